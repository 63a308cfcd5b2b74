import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import middy from '@middy/core'
import type { SQSEvent, SQSRecord } from 'aws-lambda'
import { deps, logger } from './core/deps.js'
import { scanResultEvent } from './core/guardduty.js'
import { applyScanResult } from './core/scan-verdicts.js'

async function processRecord(record: SQSRecord): Promise<void> {
  // The rule delivers the whole EventBridge event as the body. One that does not parse is retried and ends in
  // the DLQ, where it can be read: a verdict is never guessed.
  const event = scanResultEvent.parse(JSON.parse(record.body))
  await applyScanResult(deps(), event)
}

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler((event, context) =>
    processPartialResponse(event, processRecord, new BatchProcessor(EventType.SQS), { context, throwOnFullBatchFailure: false }),
  )
