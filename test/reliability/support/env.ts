import { applyLocalEnvironment } from '../../../bin/local/environment.js'

/**
 * The reliability suite's environment: its own database, Redis index, bucket and queue names, so a
 * run never touches `npm start`'s data or the integration tier's. Short visibility timeouts and a
 * low maxReceiveCount make redelivery and the DLQ observable within a test.
 */
export const RELIABILITY_OVERRIDES = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/upload_pipeline_reliability',
  REDIS_URL: 'redis://127.0.0.1:6379/14',
  FILES_BUCKET_NAME: 'upload-pipeline-reliability',
  QUEUE_NAME_PREFIX: 'upload-pipeline-reliability',
  QUEUE_VISIBILITY_TIMEOUT: '2',
  STALE_CLAIM_SECONDS: '2',
  MAX_RECEIVE_COUNT: '3',
  DATABASE_POOL_MAX: '10',
  PRESIGN_RATE_LIMIT: '0',
  LOG_LEVEL: 'ERROR',
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  // The scenarios hash objects up to GiBs, past clamd's stream limit, where scanning would quarantine them; a
  // scanner outage has its own test (test/integration/scanning/clamav-pipeline.test.ts).
  MALWARE_SCANNER: 'off',
} as const

/**
 * Several people (and their `npm test`) may run the suite on one machine at once: each run gets a
 * database of its own, named after the run id the global setup sets and the workers inherit.
 */
export function applyReliabilityEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  const run = env.RELIABILITY_RUN_ID
  applyLocalEnvironment(env, {
    ...RELIABILITY_OVERRIDES,
    ...(run ? { DATABASE_URL: `${RELIABILITY_OVERRIDES.DATABASE_URL}_${run}` } : {}),
  })
}

/** `npm run reliability` sets RELIABILITY_FULL=1: the sizes. Otherwise a CI-sized subset. */
export const FULL = process.env.RELIABILITY_FULL === '1'
export const sized = (ci: number, full: number): number => (FULL ? full : ci)
