import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import { deps, logger } from './core/deps.js'
import { oldestUnpublishedAge, relayOutbox } from './core/outbox.js'

const metrics = new Metrics({ namespace: 'UploadPipeline', serviceName: 'upload-pipeline' })

export const handler = middy()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(async () => {
    const { db, queue } = deps()
    const result = await relayOutbox(db, queue)
    const oldestAgeSeconds = await oldestUnpublishedAge(db)
    // The outbox-age alarm watches this: a relay that cannot publish shows as a growing age.
    metrics.addMetric('OutboxOldestAgeSeconds', MetricUnit.Seconds, oldestAgeSeconds)
    metrics.addMetric('OutboxPublished', MetricUnit.Count, result.published)
    metrics.addMetric('OutboxPublishFailed', MetricUnit.Count, result.failed)
    // Most sweeps find nothing to do: keep those out of the log unless debugging.
    const log = result.published || result.failed ? logger.info : logger.debug
    log.call(logger, 'outbox relayed', { ...result, oldest_unpublished_age_seconds: oldestAgeSeconds })
    return { ...result, oldestAgeSeconds }
  })
