import { applyIsolatedEnvironment } from '../test/fixtures/env.js'

/**
 * The benchmark environment: a database, Redis index (12), bucket and queues of its own
 * (test/fixtures/env.ts), so a benchmark never disturbs the tests or `npm start`.
 * The presign rate limit stays on (its Redis round trip is part of the cost) but cannot trip; logging
 * stays at the shipped level (INFO).
 */
export const BENCH_SETTINGS = {
  PRESIGN_RATE_LIMIT: '1000000000',
} as const

/** A queue of its own for the relay benchmark, so no poller consumes what it measures. */
export const RELAY_QUEUE_NAME = 'upload-pipeline-bench-relay'

export function applyBenchEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  applyIsolatedEnvironment({ name: 'bench', redisDb: 12 }, BENCH_SETTINGS, env)
}
