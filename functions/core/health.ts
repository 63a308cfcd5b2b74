import { sql } from 'kysely'
import type { Deps } from './deps.js'

type Check = 'database' | 'cache' | 'storage' | 'queue'

export interface HealthReport {
  status: 'ok' | 'degraded' | 'unavailable'
  checks: Record<Check, 'ok' | 'unavailable'>
}

const CHECK_TIMEOUT_MS = 2_000

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Probes every dependency concurrently. The cache is optional (reads fall back to storage), so
 * losing it degrades the service; losing any other dependency makes it unavailable.
 */
export async function checkHealth(deps: Deps): Promise<HealthReport> {
  const probes: Record<Check, () => Promise<unknown>> = {
    database: () => sql`select 1`.execute(deps.db),
    cache: () => deps.cache.ping(),
    storage: () => deps.storage.ping(),
    queue: () => deps.queue.ping(),
  }
  const entries = await Promise.all(
    Object.entries(probes).map(async ([name, probe]) => {
      try {
        await within(probe(), CHECK_TIMEOUT_MS)
        return [name, 'ok'] as const
      } catch (error) {
        deps.logger.warn('health check failed', { check: name, error: String(error) })
        return [name, 'unavailable'] as const
      }
    }),
  )
  const checks = Object.fromEntries(entries) as HealthReport['checks']
  const down = (Object.keys(checks) as Check[]).filter((c) => checks[c] !== 'ok')
  const status = down.length === 0 ? 'ok' : down.every((c) => c === 'cache') ? 'degraded' : 'unavailable'
  return { status, checks }
}
