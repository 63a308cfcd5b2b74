import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import { METRICS } from '../lib/settings.js'
import { deps, logger } from './core/deps.js'
import { oldestUnpublishedAge, relayOutbox } from './core/outbox.js'
import { dispatchDeliveries } from './core/webhook-delivery.js'

const metrics = new Metrics({ namespace: METRICS.namespace, serviceName: METRICS.serviceName })

export const handler = middy()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(async () => {
    const { db, queue, bus } = deps()
    const result = await relayOutbox(db, queue, { bus })
    // New deliveries from this relay, and retries whose wait outlasted SQS's 15-minute delay.
    const dispatched = await dispatchDeliveries(deps())
    const oldestAgeSeconds = await oldestUnpublishedAge(db)
    // The outbox-age alarm watches this: a relay that cannot publish shows as a growing age.
    metrics.addMetric(METRICS.outboxOldestAgeSeconds, MetricUnit.Seconds, oldestAgeSeconds)
    metrics.addMetric(METRICS.outboxPublished, MetricUnit.Count, result.published)
    metrics.addMetric(METRICS.outboxPublishFailed, MetricUnit.Count, result.failed)
    // Most sweeps find nothing to do: keep those out of the log unless debugging.
    const log = result.published || result.failed || dispatched ? logger.info : logger.debug
    log.call(logger, 'outbox relayed', { ...result, dispatched, oldest_unpublished_age_seconds: oldestAgeSeconds })
    return { ...result, oldestAgeSeconds, dispatched }
  })
