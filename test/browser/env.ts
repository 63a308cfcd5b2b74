import { applyLocalEnvironment } from '../../bin/local/environment.js'
import { applyTestEnvironment } from '../fixtures/env.js'

/**
 * The browser tier's own database, Redis index, bucket and queue. The integration tier resets and
 * re-provisions its own (rewriting the bucket's CORS) in every run, so sharing them would let one
 * tier's run break the other's page uploads.
 */
export const BROWSER_OVERRIDES = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/upload_pipeline_browser',
  REDIS_URL: 'redis://127.0.0.1:6379/13',
  FILES_BUCKET_NAME: 'upload-pipeline-browser-files',
  QUEUE_NAME_PREFIX: 'upload-pipeline-browser',
} as const

/** Honours `TEST_ISOLATION` like the other tiers (test/fixtures/env.ts), so two runs on one machine stay apart. */
export function applyBrowserEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  applyTestEnvironment(env)
  const suffix = env.TEST_ISOLATION?.trim()
  const redisUrl = env.TEST_REDIS_DB?.trim() ? env.REDIS_URL : BROWSER_OVERRIDES.REDIS_URL
  applyLocalEnvironment(env, {
    ...BROWSER_OVERRIDES,
    REDIS_URL: redisUrl!,
    ...(suffix
      ? {
          DATABASE_URL: `${BROWSER_OVERRIDES.DATABASE_URL}_${suffix}`,
          FILES_BUCKET_NAME: `${BROWSER_OVERRIDES.FILES_BUCKET_NAME}-${suffix}`,
          QUEUE_NAME_PREFIX: `${BROWSER_OVERRIDES.QUEUE_NAME_PREFIX}-${suffix}`,
        }
      : {}),
  })
}
