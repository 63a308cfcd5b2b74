import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import middy from '@middy/core'
import type { SQSEvent, SQSRecord } from 'aws-lambda'
import { deps, logger } from './core/deps.js'
import { syncFile } from './core/hashing.js'
import { fileUploadedMessage } from './core/schemas.js'

const processor = new BatchProcessor(EventType.SQS)

async function processRecord(record: SQSRecord): Promise<void> {
  // A body that is not our message throws, so it is retried and ends in the DLQ for inspection.
  const message = fileUploadedMessage.parse(JSON.parse(record.body))
  await syncFile(deps(), message.file_id, { receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1 })
}

export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler((event, context) => processPartialResponse(event, processRecord, processor, { context }))
