import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import middy from '@middy/core'
import { migrateToLatest } from './core/db.js'
import { deps, logger } from './core/deps.js'

/** Runs on every deploy before the API takes traffic; a failure fails the deployment. */
export const handler = middy()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async () => {
    const applied = await migrateToLatest(deps().db)
    logger.info('migrations applied', { applied })
    return { applied }
  })
