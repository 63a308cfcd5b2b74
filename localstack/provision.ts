/**
 * Idempotent provisioning of the emulated AWS side: the files bucket (with the CORS rules a browser needs for the
 * presigned POST) and the files queue with its dead-letter queue. Host mode (localstack/start.sh) and Docker mode
 * (docker-compose.yml) both run this same step; on AWS the CDK stack owns these resources instead.
 *
 *   npx tsx localstack/provision.ts      # prints {"bucketName", "queueName", "queueUrl", "dlqUrl", ...} as JSON
 *
 * Existing resources converge: CORS is rewritten, and queue attributes that differ are set again.
 * Tests import `provision({ queueName: 'test-…' })` to get throwaway queues.
 */
import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CreateBucketCommand, PutBucketCorsCommand, S3Client, type CORSRule } from '@aws-sdk/client-s3'
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  QueueNameExists,
  SetQueueAttributesCommand,
  SQSClient,
  type QueueAttributeName,
} from '@aws-sdk/client-sqs'
import { CreateEventBusCommand, EventBridgeClient, ResourceAlreadyExistsException } from '@aws-sdk/client-eventbridge'
import { queueConsumers, VISIBILITY_TIMEOUT_FACTOR } from '../lib/routes.js'

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:4566'
export const DEFAULT_REGION = 'us-east-1'
export const DEFAULT_BUCKET_NAME = 'upload-pipeline-files'
export const DEFAULT_QUEUE_NAME = 'upload-pipeline-files'
export const DEFAULT_EVENT_BUS_NAME = 'upload-pipeline-events'
export const DEFAULT_CORS_ALLOWED_ORIGINS: readonly string[] = ['http://localhost:3000', 'http://127.0.0.1:3000']
/** SQS requires the visibility timeout to cover the consumer's whole run: 6 x its timeout (lib/routes.ts). */
export const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = hashConsumerTimeoutSeconds() * VISIBILITY_TIMEOUT_FACTOR
export const MAX_RECEIVE_COUNT = 5
export const QUEUE_RETENTION_SECONDS = 4 * 24 * 60 * 60
export const DLQ_RETENTION_SECONDS = 14 * 24 * 60 * 60

export interface ProvisionOptions {
  /** Default: AWS_ENDPOINT_URL, else http://127.0.0.1:4566. */
  readonly endpoint?: string
  /** Default: us-east-1. */
  readonly region?: string
  /** Default: FILES_BUCKET_NAME, else upload-pipeline-files. */
  readonly bucketName?: string
  /** Default: CORS_ALLOWED_ORIGINS (comma-separated), else http://localhost:3000 and http://127.0.0.1:3000. */
  readonly corsAllowedOrigins?: readonly string[]
  /** Default: FILES_QUEUE_NAME, else upload-pipeline-files. */
  readonly queueName?: string
  /** Default: `<queueName>-dlq`. */
  readonly dlqName?: string
  /** Default: FILES_QUEUE_VISIBILITY_TIMEOUT, else the hash consumer's timeout x VISIBILITY_TIMEOUT_FACTOR (1,800). */
  readonly visibilityTimeoutSeconds?: number
  /** Default: 5. */
  readonly maxReceiveCount?: number
  /** Where unset options are read from. Default: process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

export interface ProvisionResult {
  /** Undefined when LocalStack's events service did not answer (the bus is then missing). */
  readonly eventBusName: string | undefined
  readonly webhooksQueueUrl: string
  readonly webhookResultsQueueUrl: string
  readonly bucketName: string
  readonly queueName: string
  readonly queueUrl: string
  readonly queueArn: string
  readonly dlqName: string
  readonly dlqUrl: string
  readonly dlqArn: string
  readonly visibilityTimeoutSeconds: number
}

export class ProvisionConfigError extends Error {
  override readonly name = 'ProvisionConfigError'
}

type ResolvedOptions = Required<Omit<ProvisionOptions, 'env'>> & { eventBusName: string }

export function resolveProvisionOptions(options: ProvisionOptions = {}): ResolvedOptions {
  const env = options.env ?? process.env
  const fromEnv = (name: string): string | undefined => env[name]?.trim() || undefined
  const queueName = options.queueName ?? fromEnv('FILES_QUEUE_NAME') ?? DEFAULT_QUEUE_NAME
  const resolved: ResolvedOptions = {
    endpoint: options.endpoint ?? fromEnv('AWS_ENDPOINT_URL') ?? DEFAULT_ENDPOINT,
    region: options.region ?? DEFAULT_REGION,
    bucketName: options.bucketName ?? fromEnv('FILES_BUCKET_NAME') ?? DEFAULT_BUCKET_NAME,
    corsAllowedOrigins:
      options.corsAllowedOrigins ?? parseList(fromEnv('CORS_ALLOWED_ORIGINS')) ?? DEFAULT_CORS_ALLOWED_ORIGINS,
    queueName,
    dlqName: options.dlqName ?? `${queueName}-dlq`,
    visibilityTimeoutSeconds:
      options.visibilityTimeoutSeconds ??
      parseInteger('FILES_QUEUE_VISIBILITY_TIMEOUT', fromEnv('FILES_QUEUE_VISIBILITY_TIMEOUT')) ??
      DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
    maxReceiveCount: options.maxReceiveCount ?? MAX_RECEIVE_COUNT,
    eventBusName: fromEnv('FILES_EVENT_BUS_NAME') ?? DEFAULT_EVENT_BUS_NAME,
  }
  // SQS limits: visibility 0..43200 s, maxReceiveCount 1..1000.
  assertIntegerIn('visibility timeout', resolved.visibilityTimeoutSeconds, 0, 43_200)
  assertIntegerIn('maxReceiveCount', resolved.maxReceiveCount, 1, 1000)
  if (resolved.corsAllowedOrigins.length === 0) {
    throw new ProvisionConfigError('CORS_ALLOWED_ORIGINS must name at least one origin')
  }
  return resolved
}

export async function provision(options: ProvisionOptions = {}): Promise<ProvisionResult> {
  const o = resolveProvisionOptions(options)
  const clientConfig = {
    endpoint: o.endpoint,
    region: o.region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  }
  const s3 = new S3Client({ ...clientConfig, forcePathStyle: true })
  const sqs = new SQSClient(clientConfig)
  try {
    await ensureBucket(s3, o.bucketName, o.corsAllowedOrigins)
    const dlq = await ensureQueue(sqs, o.dlqName, { MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS) })
    const queue = await ensureQueue(sqs, o.queueName, {
      VisibilityTimeout: String(o.visibilityTimeoutSeconds),
      MessageRetentionPeriod: String(QUEUE_RETENTION_SECONDS),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: o.maxReceiveCount }),
    })
    const withDlq = async (name: string) => {
      const dead = await ensureQueue(sqs, `${name}-dlq`, { MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS) })
      return ensureQueue(sqs, name, {
        VisibilityTimeout: String(webhookVisibilitySeconds()),
        MessageRetentionPeriod: String(QUEUE_RETENTION_SECONDS),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dead.arn, maxReceiveCount: o.maxReceiveCount }),
      })
    }
    const webhooks = await withDlq(`${o.queueName}-webhooks`)
    const results = await withDlq(`${o.queueName}-webhook-results`)
    const eventBusName = await ensureEventBus(clientConfig, o.eventBusName)
    return {
      eventBusName,
      webhooksQueueUrl: webhooks.url,
      webhookResultsQueueUrl: results.url,
      bucketName: o.bucketName,
      queueName: o.queueName,
      queueUrl: queue.url,
      queueArn: queue.arn,
      dlqName: o.dlqName,
      dlqUrl: dlq.url,
      dlqArn: dlq.arn,
      visibilityTimeoutSeconds: o.visibilityTimeoutSeconds,
    }
  } finally {
    s3.destroy()
    sqs.destroy()
  }
}

/** The browser posts the form straight to the bucket, so the bucket (not our API) must answer CORS. */
export function corsRules(allowedOrigins: readonly string[]): CORSRule[] {
  return [
    {
      AllowedOrigins: [...allowedOrigins],
      AllowedMethods: ['POST', 'GET', 'HEAD', 'PUT'],
      AllowedHeaders: ['*'],
      ExposeHeaders: ['ETag', 'x-amz-request-id'],
      MaxAgeSeconds: 3000,
    },
  ]
}

async function ensureBucket(s3: S3Client, bucketName: string, allowedOrigins: readonly string[]): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucketName }))
  } catch (error) {
    if (!(error instanceof Error && error.name === 'BucketAlreadyOwnedByYou')) throw error
  }
  await s3.send(
    new PutBucketCorsCommand({ Bucket: bucketName, CORSConfiguration: { CORSRules: corsRules(allowedOrigins) } }),
  )
}

type QueueAttributes = Partial<Record<QueueAttributeName, string>>

async function ensureQueue(
  sqs: SQSClient,
  queueName: string,
  wanted: QueueAttributes,
): Promise<{ url: string; arn: string }> {
  let url = await getQueueUrl(sqs, queueName)
  if (url === undefined) {
    try {
      url = (await sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: wanted }))).QueueUrl
    } catch (error) {
      // Created concurrently with different attributes: converge below.
      if (!(error instanceof QueueNameExists)) throw error
      url = await getQueueUrl(sqs, queueName)
    }
    if (url === undefined) throw new Error(`queue ${queueName} has no URL after CreateQueue`)
  }
  const { Attributes: current = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
  )
  const changed = Object.fromEntries(
    Object.entries(wanted).filter(([name, value]) => !sameAttribute(name, current[name as QueueAttributeName], value)),
  )
  if (Object.keys(changed).length > 0) {
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: changed }))
  }
  const arn = current.QueueArn
  if (!arn) throw new Error(`queue ${queueName} reports no QueueArn`)
  return { url, arn }
}

async function getQueueUrl(sqs: SQSClient, queueName: string): Promise<string | undefined> {
  try {
    return (await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }))).QueueUrl
  } catch (error) {
    if (error instanceof QueueDoesNotExist) return undefined
    throw error
  }
}

/** RedrivePolicy is JSON whose maxReceiveCount may come back as a string; the rest compare as text. */
function sameAttribute(name: string, current: string | undefined, wanted: string | undefined): boolean {
  if (current === undefined || wanted === undefined) return current === wanted
  if (name !== 'RedrivePolicy') return current === wanted
  try {
    const a = JSON.parse(current) as { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown }
    const b = JSON.parse(wanted) as { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown }
    return a.deadLetterTargetArn === b.deadLetterTargetArn && Number(a.maxReceiveCount) === Number(b.maxReceiveCount)
  } catch {
    return false
  }
}

/** The bus, idempotently. LocalStack started without the events service leaves it out, with a warning. */
async function ensureEventBus(clientConfig: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } }, name: string): Promise<string | undefined> {
  const eventBridge = new EventBridgeClient(clientConfig)
  try {
    await eventBridge.send(new CreateEventBusCommand({ Name: name }))
    return name
  } catch (error) {
    if (error instanceof ResourceAlreadyExistsException) return name
    process.stderr.write(`provision: event bus ${name} not created (is SERVICES=s3,sqs,events?): ${String(error)}\n`)
    return undefined
  } finally {
    eventBridge.destroy()
  }
}

function webhookVisibilitySeconds(): number {
  const timeouts = queueConsumers.filter((c) => c.queue !== 'files').map((c) => c.timeoutSeconds)
  return Math.max(...timeouts) * VISIBILITY_TIMEOUT_FACTOR
}

function hashConsumerTimeoutSeconds(): number {
  const consumer = queueConsumers.find((c) => c.queue === 'files')
  if (!consumer) throw new Error('lib/routes.ts has no consumer for the files queue')
  return consumer.timeoutSeconds
}

function assertIntegerIn(what: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ProvisionConfigError(`${what} must be an integer in ${min}..${max}, got ${value}`)
  }
}

function parseList(raw: string | undefined): readonly string[] | undefined {
  if (raw === undefined) return undefined
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean)
  return items.length > 0 ? items : undefined
}

function parseInteger(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (!Number.isSafeInteger(value)) throw new ProvisionConfigError(`${name} must be an integer, got "${raw}"`)
  return value
}

function isMainModule(): boolean {
  const entry = process.argv[1]
  if (!entry) return false
  try {
    return realpathSync(resolve(entry)) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isMainModule()) {
  const endpoint = process.env.AWS_ENDPOINT_URL?.trim() || DEFAULT_ENDPOINT
  try {
    const result = await provision()
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    process.stderr.write(`provision: failed against ${endpoint}: ${message}\n`)
    process.exitCode = 1
  }
}
