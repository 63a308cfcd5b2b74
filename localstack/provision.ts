/**
 * Idempotent provisioning of the emulated AWS side: the files bucket (versioned, with the CORS rules a browser needs
 * for the presigned POST) and the files queue with its dead-letter queue. Host mode (localstack/start.sh) and Docker mode
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
import { CreateEventBusCommand, EventBridgeClient, ResourceAlreadyExistsException } from '@aws-sdk/client-eventbridge'
import { CreateBucketCommand, PutBucketCorsCommand, PutBucketVersioningCommand, S3Client, type CORSRule } from '@aws-sdk/client-s3'
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
import type { QueueName } from '../lib/routes.js'
import {
  BUCKET_CORS,
  DEFAULT_QUEUE_PREFIX,
  localQueueName,
  queues,
  type QueueSettings,
  visibilityTimeoutSeconds,
} from '../lib/settings.js'

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:4566'
export const DEFAULT_REGION = 'us-east-1'
export const DEFAULT_BUCKET_NAME = 'upload-pipeline-files'
export const DEFAULT_EVENT_BUS_NAME = 'upload-pipeline-events'
export const DEFAULT_CORS_ALLOWED_ORIGINS: readonly string[] = ['http://localhost:3000', 'http://127.0.0.1:3000']

export interface ProvisionOptions {
  /** Default: AWS_ENDPOINT_URL, else http://127.0.0.1:4566. */
  readonly endpoint?: string
  /** Default: us-east-1. */
  readonly region?: string
  /** Default: FILES_BUCKET_NAME, else upload-pipeline-files. */
  readonly bucketName?: string
  /** Default: CORS_ALLOWED_ORIGINS (comma-separated), else http://localhost:3000 and http://127.0.0.1:3000. */
  readonly corsAllowedOrigins?: readonly string[]
  /** Queues are named `<prefix>-<name>`, DLQs `<prefix>-<name>-dlq`. Default: QUEUE_NAME_PREFIX, else upload-pipeline. */
  readonly queuePrefix?: string
  /** Every queue's visibility timeout. Default: QUEUE_VISIBILITY_TIMEOUT, else each queue's from `lib/settings.ts`. */
  readonly visibilityTimeoutSeconds?: number
  /** Default: each queue's from `lib/settings.ts`. */
  readonly maxReceiveCount?: number
  /** Where unset options are read from. Default: process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

export interface ProvisionedQueue {
  readonly name: string
  readonly url: string
  readonly arn: string
  readonly dlqName: string
  readonly dlqUrl: string
  readonly dlqArn: string
  readonly visibilityTimeoutSeconds: number
}

export interface ProvisionResult {
  /** Undefined when LocalStack's events service did not answer (the bus is then missing). */
  readonly eventBusName: string | undefined
  readonly bucketName: string
  readonly queues: Readonly<Record<QueueName, ProvisionedQueue>>
  /** The files queue's, as before there were several. */
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

type ResolvedOptions = Required<Omit<ProvisionOptions, 'env' | 'visibilityTimeoutSeconds' | 'maxReceiveCount'>> &
  Pick<ProvisionOptions, 'visibilityTimeoutSeconds' | 'maxReceiveCount'> & { eventBusName: string }

export function resolveProvisionOptions(options: ProvisionOptions = {}): ResolvedOptions {
  const env = options.env ?? process.env
  const fromEnv = (name: string): string | undefined => env[name]?.trim() || undefined
  const resolved: ResolvedOptions = {
    endpoint: options.endpoint ?? fromEnv('AWS_ENDPOINT_URL') ?? DEFAULT_ENDPOINT,
    region: options.region ?? DEFAULT_REGION,
    bucketName: options.bucketName ?? fromEnv('FILES_BUCKET_NAME') ?? DEFAULT_BUCKET_NAME,
    corsAllowedOrigins:
      options.corsAllowedOrigins ?? parseList(fromEnv('CORS_ALLOWED_ORIGINS')) ?? DEFAULT_CORS_ALLOWED_ORIGINS,
    queuePrefix: options.queuePrefix ?? fromEnv('QUEUE_NAME_PREFIX') ?? DEFAULT_QUEUE_PREFIX,
    eventBusName: fromEnv('FILES_EVENT_BUS_NAME') ?? DEFAULT_EVENT_BUS_NAME,
    visibilityTimeoutSeconds:
      options.visibilityTimeoutSeconds ?? parseInteger('QUEUE_VISIBILITY_TIMEOUT', fromEnv('QUEUE_VISIBILITY_TIMEOUT')),
    maxReceiveCount: options.maxReceiveCount,
  }
  // SQS limits: visibility 0..43200 s, maxReceiveCount 1..1000.
  if (resolved.visibilityTimeoutSeconds !== undefined) {
    assertIntegerIn('visibility timeout', resolved.visibilityTimeoutSeconds, 0, 43_200)
  }
  if (resolved.maxReceiveCount !== undefined) assertIntegerIn('maxReceiveCount', resolved.maxReceiveCount, 1, 1000)
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
    const provisioned = await Promise.all(queues.map((settings) => ensureQueuePair(sqs, o, settings)))
    const byName = Object.fromEntries(queues.map((q, i) => [q.name, provisioned[i]!])) as Record<QueueName, ProvisionedQueue>
    const files = byName.files
    const eventBusName = await ensureEventBus(clientConfig, o.eventBusName)
    return {
      eventBusName,
      bucketName: o.bucketName,
      queues: byName,
      queueName: files.name,
      queueUrl: files.url,
      queueArn: files.arn,
      dlqName: files.dlqName,
      dlqUrl: files.dlqUrl,
      dlqArn: files.dlqArn,
      visibilityTimeoutSeconds: files.visibilityTimeoutSeconds,
    }
  } finally {
    s3.destroy()
    sqs.destroy()
  }
}

/** The bus, idempotently. A LocalStack without the events service leaves it out, with a warning naming the fix. */
async function ensureEventBus(
  clientConfig: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } },
  name: string,
): Promise<string | undefined> {
  const eventBridge = new EventBridgeClient(clientConfig)
  try {
    await eventBridge.send(new CreateEventBusCommand({ Name: name }))
    return name
  } catch (error) {
    if (error instanceof ResourceAlreadyExistsException) return name
    process.stderr.write(`provision: event bus ${name} not created (does LocalStack run SERVICES=s3,sqs,events?): ${String(error)}\n`)
    return undefined
  } finally {
    eventBridge.destroy()
  }
}

/** The attributes a queue of `lib/settings.ts` and its dead-letter queue get here: the stack's, unless overridden. */
export function localQueueAttributes(
  settings: QueueSettings,
  overrides: Pick<ProvisionOptions, 'visibilityTimeoutSeconds' | 'maxReceiveCount'>,
  deadLetterArn: string,
): { queue: QueueAttributes; deadLetterQueue: QueueAttributes } {
  return {
    deadLetterQueue: { MessageRetentionPeriod: String(settings.deadLetterRetentionSeconds) },
    queue: {
      VisibilityTimeout: String(overrides.visibilityTimeoutSeconds ?? visibilityTimeoutSeconds(settings.name)),
      MessageRetentionPeriod: String(settings.retentionSeconds),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: deadLetterArn,
        maxReceiveCount: overrides.maxReceiveCount ?? settings.maxReceiveCount,
      }),
    },
  }
}

async function ensureQueuePair(sqs: SQSClient, o: ResolvedOptions, settings: QueueSettings): Promise<ProvisionedQueue> {
  const name = localQueueName(o.queuePrefix, settings.name)
  const dlqName = `${name}-dlq`
  const dlq = await ensureQueue(sqs, dlqName, localQueueAttributes(settings, o, '').deadLetterQueue)
  const attributes = localQueueAttributes(settings, o, dlq.arn).queue
  const queue = await ensureQueue(sqs, name, attributes)
  return {
    name,
    url: queue.url,
    arn: queue.arn,
    dlqName,
    dlqUrl: dlq.url,
    dlqArn: dlq.arn,
    visibilityTimeoutSeconds: Number(attributes.VisibilityTimeout),
  }
}

/** The browser posts the form and PUTs parts straight to the bucket, so the bucket (not our API) must answer CORS. */
export function corsRules(allowedOrigins: readonly string[]): CORSRule[] {
  return [
    {
      AllowedOrigins: [...allowedOrigins],
      AllowedMethods: [...BUCKET_CORS.allowedMethods],
      AllowedHeaders: [...BUCKET_CORS.allowedHeaders],
      ExposeHeaders: [...BUCKET_CORS.exposedHeaders],
      MaxAgeSeconds: BUCKET_CORS.maxAgeSeconds,
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
  // As in the stack: confirm records the version it checked and every read is pinned to it, so a presigned
  // POST replayed after confirm adds a version instead of changing the bytes that were hashed.
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucketName, VersioningConfiguration: { Status: 'Enabled' } }))
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
