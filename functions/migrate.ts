import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import middy from '@middy/core'
import { migrateToLatest } from './core/db.js'
import { deps, logger } from './core/deps.js'
import { DependencyUnavailableError } from './core/errors.js'

const CONNECT_PATIENCE_MS = 60_000

/**
 * Runs after the data layer deploys and before the API takes traffic; a failure fails the deploy.
 * A proxy created in the same deploy can refuse connections for a little while, so connection
 * failures are retried for a minute before giving up.
 */
export const handler = middy()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async () => {
    const deadline = Date.now() + CONNECT_PATIENCE_MS
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = await migrateToLatest(deps().db)
        logger.info('migrations applied', { applied })
        return { applied }
      } catch (error) {
        if (!(error instanceof DependencyUnavailableError) || Date.now() > deadline) throw error
        logger.warn('database not reachable yet; retrying', { attempt, error: String(error) })
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000 * attempt, 5_000)))
      }
    }
  })
