import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import middy from '@middy/core'
import { deps, logger } from './core/deps.js'
import { sweepFiles } from './core/sweeper.js'

export const handler = middy()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async () => {
    const result = await sweepFiles(deps())
    logger.info('sweep finished', { ...result })
    return result
  })
