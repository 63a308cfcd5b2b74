import { GetQueueAttributesCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { SQS_MAX_BATCH } from './aws-limits.js'
import type { Config } from './config.js'
import { DependencyUnavailableError } from './errors.js'

export interface QueueMessage {
  /** Unique within one batch; the caller's id for matching results. */
  id: string
  body: string
  /** Held back this long before it can be received (SQS allows up to 900 s). */
  delaySeconds?: number
}

/** What the relay needs from the queue. */
export interface MessageQueue {
  /** Sends up to 10 messages; returns the ids that SQS did not accept. */
  sendBatch(messages: readonly QueueMessage[]): Promise<{ failed: { id: string; reason: string }[] }>
  ping(): Promise<void>
}

export { SQS_MAX_BATCH }

export function createSqsClient(config: Config): SQSClient {
  const agentOptions = { keepAlive: true, maxSockets: 64 }
  return new SQSClient({
    region: config.region,
    ...(config.awsEndpointUrl ? { endpoint: config.awsEndpointUrl } : {}),
    maxAttempts: 3,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      connectionTimeout: 3_000,
      requestTimeout: 10_000,
    }),
  })
}

export function createMessageQueue(client: SQSClient, queueUrl: string): MessageQueue {
  return {
    async sendBatch(messages) {
      if (messages.length === 0) return { failed: [] }
      if (messages.length > SQS_MAX_BATCH) throw new RangeError(`at most ${SQS_MAX_BATCH} messages per batch`)
      try {
        const result = await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: messages.map((m) => ({ Id: m.id, MessageBody: m.body, ...(m.delaySeconds ? { DelaySeconds: m.delaySeconds } : {}) })),
          }),
        )
        return { failed: (result.Failed ?? []).map((f) => ({ id: f.Id ?? '', reason: f.Message ?? f.Code ?? 'unknown' })) }
      } catch (error) {
        throw new DependencyUnavailableError('queue', { cause: error })
      }
    },

    async ping() {
      try {
        await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))
      } catch (error) {
        throw new DependencyUnavailableError('queue', { cause: error })
      }
    },
  }
}
