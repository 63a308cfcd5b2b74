import { applyIsolatedEnvironment, TEST_SETTINGS } from '../fixtures/env.js'

/**
 * The browser tier's own database, Redis index, bucket and queues. The integration tier resets and
 * re-provisions its own (rewriting the bucket's CORS) in every run, so sharing them would let one
 * tier's run break the other's page uploads.
 */
export function applyBrowserEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  applyIsolatedEnvironment({ name: 'browser', redisDb: 13 }, TEST_SETTINGS, env)
}
