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

export function applyBenchEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  applyLocalEnvironment(env, { ...BENCH_OVERRIDES })
}
