/**
 * `npm run redrive`: moves every message of the files queue's dead-letter queue back to the files
 * queue, once the cause of the failures is fixed. The hash function then retakes the files that were
 * marked FAILED (RETRIES_EXHAUSTED) on their last delivery.
 *
 *   npm run redrive                               # the local queue (LocalStack, QUEUE_NAME_PREFIX)
 *   npm run redrive -- --queue-url <url>          # any queue; the DLQ is read from its RedrivePolicy
 *   npm run redrive -- --aws --queue-url <url>    # against AWS: no local defaults
 *   npm run redrive -- --manual                   # receive/send/delete instead of StartMessageMoveTask
 *
 * Prints one JSON line: {"method", "moved", "source", "destination"}.
 */
import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs'
import { applyLocalEnvironment } from './local/environment.js'

export interface RedriveOptions {
  sqs: SQSClient
  queueUrl: string
  /** Skip StartMessageMoveTask and move messages one batch at a time. */
  manual?: boolean
  /** Stop waiting for a move task after this long (default 5 minutes). */
  timeoutMs?: number
}

export interface RedriveResult {
  method: 'StartMessageMoveTask' | 'receive-send-delete'
  moved: number
  source: string
  destination: string
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function queueArn(sqs: SQSClient, queueUrl: string): Promise<{ arn: string; redrivePolicy: string | undefined }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn', 'RedrivePolicy'] }),
  )
  if (!Attributes.QueueArn) throw new Error(`${queueUrl} reports no QueueArn`)
  return { arn: Attributes.QueueArn, redrivePolicy: Attributes.RedrivePolicy }
}

/** Moves the DLQ's messages back to `queueUrl`: a move task where SQS offers one, else batch by batch. */
export async function redrive(options: RedriveOptions): Promise<RedriveResult> {
  const { sqs, queueUrl } = options
  const source = await queueArn(sqs, queueUrl)
  if (!source.redrivePolicy) throw new Error(`${queueUrl} has no RedrivePolicy, so no dead-letter queue`)
  const dlqArn = (JSON.parse(source.redrivePolicy) as { deadLetterTargetArn: string }).deadLetterTargetArn
  const dlqName = dlqArn.split(':').at(-1)!
  const accountId = dlqArn.split(':')[4]
  const { QueueUrl: dlqUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: dlqName, QueueOwnerAWSAccountId: accountId }))
  if (!dlqUrl) throw new Error(`no URL for the dead-letter queue ${dlqArn}`)

  if (!options.manual) {
    const moved = await moveTask(sqs, dlqArn, source.arn, options.timeoutMs ?? 300_000).catch((error: unknown) => {
      // Older SQS emulators lack the move-task API; the manual path does the same job.
      if (error instanceof Error && /UnsupportedOperation|not implemented|InvalidAction|UnknownOperation/i.test(`${error.name} ${error.message}`)) return undefined
      throw error
    })
    if (moved !== undefined) return { method: 'StartMessageMoveTask', moved, source: dlqUrl, destination: queueUrl }
  }
  return { method: 'receive-send-delete', moved: await moveByHand(sqs, dlqUrl, queueUrl), source: dlqUrl, destination: queueUrl }
}

async function moveTask(sqs: SQSClient, dlqArn: string, destinationArn: string, timeoutMs: number): Promise<number> {
  const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn, DestinationArn: destinationArn }))
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { Results = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn, MaxResults: 10 }))
    const task = Results.find((t) => t.TaskHandle === TaskHandle) ?? Results[0]
    if (task?.Status === 'COMPLETED') return task.ApproximateNumberOfMessagesMoved ?? 0
    if (task?.Status === 'FAILED' || task?.Status === 'CANCELLED') {
      throw new Error(`message move task ${task.Status}: ${task.FailureReason ?? 'no reason given'}`)
    }
    if (Date.now() > deadline) throw new Error(`message move task still ${task?.Status ?? 'unknown'} after ${timeoutMs} ms`)
    await sleep(500)
  }
}

/** Receive, send to the source queue, and delete only what was sent: a crash in between duplicates, never loses. */
async function moveByHand(sqs: SQSClient, dlqUrl: string, queueUrl: string): Promise<number> {
  let moved = 0
  let emptyReceives = 0
  while (emptyReceives < 2) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60, MessageAttributeNames: ['All'] }),
    )
    if (Messages.length === 0) {
      emptyReceives += 1
      continue
    }
    emptyReceives = 0
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((m, i) => ({ Id: String(i), MessageBody: m.Body!, MessageAttributes: m.MessageAttributes })),
      }),
    )
    const ok = (sent.Successful ?? []).map((s) => Messages[Number(s.Id)]!)
    if (ok.length) {
      await sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: dlqUrl, Entries: ok.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }),
      )
    }
    moved += ok.length
  }
  return moved
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'queue-url': { type: 'string' }, aws: { type: 'boolean', default: false }, manual: { type: 'boolean', default: false } },
  })
  if (!values.aws) applyLocalEnvironment()
  const env = process.env
  const sqs = new SQSClient({ region: env.AWS_REGION, ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {}) })
  try {
    // Locally applyLocalEnvironment() has set FILES_QUEUE_URL from QUEUE_NAME_PREFIX.
    const queueUrl = values['queue-url'] ?? env.FILES_QUEUE_URL
    if (!queueUrl) throw new Error('pass --queue-url or set FILES_QUEUE_URL')
    const result = await redrive({ sqs, queueUrl, manual: values.manual })
    console.log(JSON.stringify(result))
  } finally {
    sqs.destroy()
  }
}

function isMainModule(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(resolve(process.argv[1])) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isMainModule()) {
  main().catch((error: unknown) => {
    console.error(`redrive: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  })
}
