import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import type { SQSEvent } from 'aws-lambda'
import { METRICS } from '../lib/settings.js'
import { deps, logger } from './core/deps.js'
import { attemptResult } from './core/schemas.js'
import { recordResults } from './core/webhook-delivery.js'

const metrics = new Metrics({ namespace: METRICS.namespace, serviceName: METRICS.serviceName })

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(async (event) => {
    const results = event.Records.map((r) => attemptResult.parse(JSON.parse(r.body)))
    const outcomes = await recordResults(deps(), results)
    // The delivery-failure and disabled-endpoint alarms watch these.
    metrics.addMetric(METRICS.webhookAttemptsFailed, MetricUnit.Count, results.filter((r) => r.error !== null).length)
    metrics.addMetric(METRICS.webhookEndpointsDisabled, MetricUnit.Count, outcomes.filter((o) => o.kind === 'disabled').length)
  })
