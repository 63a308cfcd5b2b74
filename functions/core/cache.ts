import { Cluster, Redis } from 'ioredis'
import type { Logger } from '@aws-lambda-powertools/logger'
import type { Config } from './config.js'
import { DependencyUnavailableError } from './errors.js'

/**
 * The content cache. Caching is best-effort: every Redis failure is logged and answered as a miss
 * (or a skipped write), so an outage degrades reads to storage instead of failing them.
 */
export interface ContentCache {
  get(fileId: string): Promise<Buffer | undefined>
  /** Caches `content` unless the file was evicted as deleted. */
  set(fileId: string, content: Buffer): Promise<boolean>
  /**
   * Removes a deleted file's entry for good: a tombstone takes its place for the cache TTL, so a
   * hash or a read that fetched the bytes before the delete cannot put them back. Throws when Redis
   * is unreachable, so the caller can retry.
   */
  evict(fileId: string): Promise<void>
  /**
   * Charges `cost` (default 1) against a sliding window; a refused charge is refunded, and the
   * answer says how many seconds to wait until `cost` more would fit.
   */
  rateLimit(key: string, limit: number, windowSeconds: number, cost?: number): Promise<{ allowed: boolean; retryAfterSeconds: number }>
  ping(): Promise<void>
}

export const contentKey = (fileId: string): string => `file_content:${fileId}`

export type RedisClient = Redis | Cluster

export function createRedisClient(config: Config): RedisClient {
  const options = {
    lazyConnect: true,
    // Fail fast instead of queueing commands while Redis is away; callers treat that as a miss.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    ...(config.redisTls ? { tls: {} } : {}),
  }
  const retryStrategy = (attempt: number): number => Math.min(attempt * 200, 2_000)
  let redis: RedisClient
  if (config.redisCluster) {
    const url = new URL(config.redisUrl)
    redis = new Cluster([{ host: url.hostname, port: Number(url.port || 6379) }], {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: retryStrategy,
      // The serverless endpoint's TLS certificate names the endpoint, not the nodes' addresses.
      dnsLookup: (address, callback) => callback(null, address),
      redisOptions: options,
    })
  } else {
    redis = new Redis(config.redisUrl, { ...options, retryStrategy })
  }
  // Connection errors surface on the commands that fail (and are logged there); without a
  // listener ioredis would report each reconnect attempt as an unhandled error.
  redis.on('error', () => undefined)
  return redis
}

/**
 * What an evicted entry holds instead of content. A file whose bytes happen to equal it is simply
 * never cached: it reads as a miss and is served from storage.
 */
const TOMBSTONE = Buffer.from('\u0000file-deleted\u0000')

// One key, so it runs on a cluster too: set unless the entry is a tombstone.
const SET_UNLESS_EVICTED = `if redis.call('get', KEYS[1]) == ARGV[3] then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1`

/** How long the cache is skipped after a Redis failure before it is tried again. */
export const CACHE_BYPASS_MS = 5_000

export function createContentCache(redis: RedisClient, config: Config, logger: Logger): ContentCache {
  // Concurrent first calls share one connect: without the offline queue, a command sent while the
  // connection is still being made fails, and would needlessly trip the bypass below.
  let connecting: Promise<void> | undefined
  const ready = async (): Promise<void> => {
    if (redis.status === 'wait') connecting ??= redis.connect().finally(() => (connecting = undefined))
    if (connecting) await connecting
  }
  // After a failure the cache is skipped for a few seconds. A hung Redis (SIGSTOP, a saturated node)
  // fails each command only after `commandTimeout`, and without this every GET paid that twice (get
  // and re-cache) for as long as the outage lasted (found by test/reliability, scenario 7).
  let bypassUntil = 0
  const bypassed = (): boolean => Date.now() < bypassUntil
  const degrade = (operation: string, error: unknown): void => {
    bypassUntil = Date.now() + CACHE_BYPASS_MS
    logger.warn('cache unavailable, continuing without it', { operation, error: String(error) })
  }

  return {
    async get(fileId) {
      if (bypassed()) return undefined
      try {
        await ready()
        const content = await redis.getBuffer(contentKey(fileId))
        return content && !content.equals(TOMBSTONE) ? content : undefined
      } catch (error) {
        degrade('get', error)
        return undefined
      }
    },

    async set(fileId, content) {
      if (content.length > config.cacheMaxBytes || bypassed()) return false
      try {
        await ready()
        const stored = await redis.eval(SET_UNLESS_EVICTED, 1, contentKey(fileId), content, config.cacheTtlSeconds, TOMBSTONE)
        return stored === 1
      } catch (error) {
        degrade('set', error)
        return false
      }
    },

    async evict(fileId) {
      try {
        await ready()
        await redis.set(contentKey(fileId), TOMBSTONE, 'EX', config.cacheTtlSeconds)
      } catch (error) {
        throw new DependencyUnavailableError('cache', { cause: error })
      }
    },

    async rateLimit(key, limit, windowSeconds, cost = 1) {
      if (bypassed()) return { allowed: true, retryAfterSeconds: 0 }
      const position = Date.now() / 1000 / windowSeconds
      const window = Math.floor(position)
      // The hash tag keeps both windows in one slot: a MULTI across slots fails on a cluster
      // (ElastiCache Serverless), and a failing limiter lets everything through.
      const current = `rate:{${key}}:${window}`
      try {
        await ready()
        const results = await redis
          .multi()
          .incrby(current, cost)
          .expire(current, 2 * windowSeconds + 1)
          .get(`rate:{${key}}:${window - 1}`)
          .exec()
        const count = Number(results?.[0]?.[1] ?? 0)
        const previous = Number(results?.[2]?.[1] ?? 0)
        const verdict = slidingWindow({ count: count - cost, cost, previous, elapsed: position - window, limit, windowSeconds })
        // Refunded, so a client that keeps retrying a refused batch does not push its own wait further out.
        if (!verdict.allowed) await redis.decrby(current, cost)
        return verdict
      } catch (error) {
        // A limiter that fails closed would turn a cache outage into an API outage.
        degrade('rateLimit', error)
        return { allowed: true, retryAfterSeconds: 0 }
      }
    },

    async ping() {
      try {
        await ready()
        await redis.ping()
      } catch (error) {
        throw new DependencyUnavailableError('cache', { cause: error })
      }
    },
  }
}

/**
 * The sliding-window estimate of a rate: the previous fixed window's count weighted by how much of
 * it still overlaps the last `windowSeconds`, plus the current window's count. Unlike a bare fixed
 * window it does not let twice the limit through across a window boundary. `count` is what this
 * window already holds before this charge of `cost`; `elapsed` is the fraction of the current window
 * that has passed. The retry hint is when the estimate will have decayed enough for `cost` more. A
 * charge larger than the whole limit is judged as the whole limit, so it fits once the window is empty.
 */
export function slidingWindow(input: {
  count: number
  cost?: number
  previous: number
  elapsed: number
  limit: number
  windowSeconds: number
}): { allowed: boolean; retryAfterSeconds: number } {
  const { count, previous, elapsed, limit, windowSeconds } = input
  const cost = Math.min(input.cost ?? 1, limit)
  if (previous * (1 - elapsed) + count + cost <= limit) return { allowed: true, retryAfterSeconds: 0 }
  // Solve for the wait t: in this window only the previous share decays; after it, this window's count does.
  const room = limit - cost
  const inThisWindow = count <= room && previous > 0 ? (1 - (room - count) / previous - elapsed) * windowSeconds : Infinity
  const inNextWindow = (1 - elapsed + Math.max(0, 1 - room / Math.max(count, 1))) * windowSeconds
  // The epsilon keeps float noise (12.000000000000002) from adding a whole second.
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(Math.min(inThisWindow, inNextWindow) - 1e-9)) }
}
