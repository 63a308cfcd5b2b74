import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import middy from '@middy/core'
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda'
import { deps, logger } from './core/deps.js'
import { syncFile } from './core/sync.js'
import { fileUploadedMessage } from './core/schemas.js'

async function processRecord(record: SQSRecord, context?: Context): Promise<void> {
  // A body that is not our message throws, so it is retried and ends in the DLQ for inspection.
  const message = fileUploadedMessage.parse(JSON.parse(record.body))
  await syncFile(deps(), message.file_id, {
    receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
    ...(context ? { remainingTimeMs: () => context.getRemainingTimeInMillis() } : {}),
  })
}

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  // A processor per invocation: it holds the batch's state, and the local runtime runs several
  // invocations at once in one process. Every failed record is reported rather than failing the
  // whole invocation, so SQS retries exactly those.
  .handler((event, context) =>
    processPartialResponse(event, processRecord, new BatchProcessor(EventType.SQS), { context, throwOnFullBatchFailure: false }),
  )
