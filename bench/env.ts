import { applyLocalEnvironment } from '../bin/local/environment.js'

/**
 * The benchmark environment: the local defaults with a database, Redis index, bucket and queues of
 * its own, so a benchmark never disturbs the tests (Redis 13 browser, 14 reliability, 15 integration)
 * or `npm start` (Redis 0).
 * The presign rate limit stays on (its Redis round trip is part of the cost) but cannot trip; logging
 * stays at the shipped level (INFO).
 */
export const BENCH_OVERRIDES = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/upload_pipeline_bench',
  REDIS_URL: 'redis://127.0.0.1:6379/12',
  FILES_BUCKET_NAME: 'upload-pipeline-bench-files',
  QUEUE_NAME_PREFIX: 'upload-pipeline-bench',
  PRESIGN_RATE_LIMIT: '1000000000',
} as const

/** A queue of its own for the relay benchmark, so no poller consumes what it measures. */
export const RELAY_QUEUE_NAME = 'upload-pipeline-bench-relay'

/**
 * `BENCH_ISOLATION=<suffix>` gives a run its own database, bucket and queues, and `BENCH_REDIS_DB` its own Redis
 * index, as TEST_ISOLATION does for the tests: a fresh bench database is dropped first, so two runs on one
 * machine would otherwise drop each other's.
 */
export function applyBenchEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  const overrides: Record<string, string> = { ...BENCH_OVERRIDES }
  const suffix = env.BENCH_ISOLATION?.trim()
  if (suffix) {
    if (!/^[a-z0-9]{1,20}$/.test(suffix)) throw new Error('BENCH_ISOLATION must be 1-20 lowercase letters or digits')
    overrides.DATABASE_URL = `${BENCH_OVERRIDES.DATABASE_URL}_${suffix}`
    overrides.FILES_BUCKET_NAME = `${BENCH_OVERRIDES.FILES_BUCKET_NAME}-${suffix}`
    overrides.QUEUE_NAME_PREFIX = `${BENCH_OVERRIDES.QUEUE_NAME_PREFIX}-${suffix}`
  }
  const redisDb = env.BENCH_REDIS_DB?.trim()
  if (redisDb) {
    if (!/^([0-9]|1[0-5])$/.test(redisDb)) throw new Error('BENCH_REDIS_DB must be a Redis index from 0 to 15')
    overrides.REDIS_URL = `redis://127.0.0.1:6379/${redisDb}`
  }
  applyLocalEnvironment(env, overrides)
}
