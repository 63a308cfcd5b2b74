import { applyIsolatedEnvironment } from '../../fixtures/env.js'

/**
 * The reliability suite's settings: short visibility timeouts and a low maxReceiveCount make redelivery and the
 * DLQ observable within a test.
 */
export const RELIABILITY_SETTINGS = {
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
 * Its own database, Redis index, bucket and queues (test/fixtures/env.ts). Several people (and their `npm test`)
 * may run the suite on one machine at once: each run also gets a database of its own, named after the run id the
 * global setup sets and the workers inherit.
 */
export function applyReliabilityEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  applyIsolatedEnvironment({ name: 'reliability', redisDb: 14, databaseSuffix: env.RELIABILITY_RUN_ID }, RELIABILITY_SETTINGS, env)
}

/** `npm run reliability` sets RELIABILITY_FULL=1: the sizes. Otherwise a CI-sized subset. */
export const FULL = process.env.RELIABILITY_FULL === '1'
export const sized = (ci: number, full: number): number => (FULL ? full : ci)
