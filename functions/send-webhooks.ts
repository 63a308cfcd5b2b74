import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import middy from '@middy/core'
import type { SQSEvent } from 'aws-lambda'
import { deps, logger } from './core/deps.js'
import { deliveryMessage } from './core/schemas.js'
import { sendDeliveries } from './core/webhook-delivery.js'

// Runs outside the VPC: it reaches the internet and the two queues, never the database or the cache.
export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    const results = await sendDeliveries(
      deps(),
      event.Records.map((r) => deliveryMessage.parse(JSON.parse(r.body))),
    )
    logger.info('webhook attempts made', { attempts: results.length, delivered: results.filter((r) => r.error === null).length })
  })
