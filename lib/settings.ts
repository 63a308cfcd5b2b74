/**
 * The pipeline's settings: one set of numbers and rules that the CDK stack, `localstack/provision.ts`, the
 * local runtime and the config defaults all read, so that none of them restates (and drifts from) another.
 * Plain data and pure derivations beside `lib/routes.ts`: no aws-cdk-lib import.
 */
import { queueConsumers, routes, scheduledTasks, type QueueName, type Route } from './routes.js'

const DAY_SECONDS = 24 * 60 * 60

/**
 * Powertools' service name and metrics namespace, and the names of the metrics the stack alarms on: the functions
 * emit them under these names and `lib/constructs/monitoring.ts` watches the same ones.
 */
export const METRICS = {
  namespace: 'UploadPipeline',
  serviceName: 'upload-pipeline',
  /** RelayOutbox, every run: the age of the oldest unpublished outbox row. */
  outboxOldestAgeSeconds: 'OutboxOldestAgeSeconds',
  outboxPublished: 'OutboxPublished',
  outboxPublishFailed: 'OutboxPublishFailed',
  /** RecordWebhookResults: attempts that were not a 2xx (refused, timed out, 3xx, 4xx, 5xx). */
  webhookAttemptsFailed: 'WebhookAttemptsFailed',
  /** RecordWebhookResults: endpoints disabled by 410 Gone or by a retry schedule run out. */
  webhookEndpointsDisabled: 'WebhookEndpointsDisabled',
} as const

/** The `Source` of every event the pipeline puts on its bus: the relay sets it, the archive's pattern matches it. */
export const EVENT_SOURCE = 'upload-pipeline'

/** What a function gets when its table entry in `lib/routes.ts` does not say. */
export const FUNCTION_DEFAULTS = { timeoutSeconds: 10, memoryMb: 256 } as const

/**
 * AWS recommends a visibility timeout of at least six times the consumer's timeout, so that a batch the event
 * source retries (after throttling, say) is not redelivered while an invocation still works on it.
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6

export interface QueueSettings {
  /** Appended to the deployment's prefix locally (`upload-pipeline-files`); the stack lets CloudFormation name it. */
  readonly name: QueueName
  /** The variable that carries the queue's URL to the functions. */
  readonly urlVariable: string
  /** Deliveries before SQS moves a message to the dead-letter queue. */
  readonly maxReceiveCount: number
  readonly retentionSeconds: number
  readonly deadLetterRetentionSeconds: number
  /** The longest delay a producer sends a message with: it counts towards the age of the oldest message. */
  readonly maxDelaySeconds?: number
}

export const queues = [
  {
    name: 'files',
    urlVariable: 'FILES_QUEUE_URL',
    maxReceiveCount: 5,
    // Its messages are derivable: the sweeper re-publishes files stuck in UPLOADED.
    retentionSeconds: 4 * DAY_SECONDS,
    // After the hash function gives up, a message here is the evidence of what failed and why.
    deadLetterRetentionSeconds: 14 * DAY_SECONDS,
  },
  {
    name: 'webhooks',
    urlVariable: 'WEBHOOKS_QUEUE_URL',
    maxReceiveCount: 5,
    // Derivable: a delivery whose attempt never reports back is dispatched again when its lease ends.
    retentionSeconds: 4 * DAY_SECONDS,
    deadLetterRetentionSeconds: 14 * DAY_SECONDS,
    // RecordWebhookResults queues a retry due within SQS's maximum delay (900 s) straight away, with that delay.
    maxDelaySeconds: 900,
  },
  {
    name: 'webhook-results',
    urlVariable: 'WEBHOOK_RESULTS_QUEUE_URL',
    maxReceiveCount: 5,
    retentionSeconds: 4 * DAY_SECONDS,
    deadLetterRetentionSeconds: 14 * DAY_SECONDS,
  },
  {
    // GuardDuty Malware Protection's verdicts (EventBridge rule -> queue -> ApplyScanResult).
    name: 'scan-results',
    urlVariable: 'SCAN_RESULTS_QUEUE_URL',
    maxReceiveCount: 5,
    retentionSeconds: 4 * DAY_SECONDS,
    // A verdict that could not be applied is the evidence of which file still waits for one.
    deadLetterRetentionSeconds: 14 * DAY_SECONDS,
  },
] as const satisfies readonly QueueSettings[]

/** Local queues are named `<prefix>-<name>` (dead-letter queues `<prefix>-<name>-dlq`). */
export const DEFAULT_QUEUE_PREFIX = 'upload-pipeline'
export const localQueueName = (prefix: string, name: QueueName): string => `${prefix}-${name}`
/** The URL LocalStack gives a queue under the path endpoint strategy (`SQS_ENDPOINT_STRATEGY=path`). */
export const localQueueUrl = (endpoint: string, queueName: string): string =>
  `${endpoint}/queue/us-east-1/000000000000/${queueName}`

/** The PascalCase id a queue's constructs (and so its logical ids) and alarms derive from: `webhook-results` → `WebhookResults`. */
export const queueId = (name: QueueName): string => name.replace(/(^|-)(\w)/g, (_, __, c: string) => c.toUpperCase())

export function queueSettings(name: QueueName): QueueSettings {
  const queue = queues.find((q) => q.name === name)
  if (!queue) throw new Error(`lib/settings.ts has no queue named ${name}`)
  return queue
}

export interface FunctionSettings {
  readonly timeoutSeconds: number
  readonly memoryMb: number
}

/** A function's timeout and memory: its table entry, else the defaults. */
export function functionSettings(spec: { readonly id: string; readonly timeoutSeconds?: number; readonly memoryMb?: number }): FunctionSettings {
  return {
    timeoutSeconds: spec.timeoutSeconds ?? FUNCTION_DEFAULTS.timeoutSeconds,
    memoryMb: spec.memoryMb ?? FUNCTION_DEFAULTS.memoryMb,
  }
}

/**
 * Above this age the oldest message of `queue` has waited out two visibility timeouts past any delay it was sent
 * with: its consumer is failing or not keeping up. The monitoring alarms on it for every queue.
 */
export function oldestMessageAlarmSeconds(queue: QueueSettings): number {
  return (queue.maxDelaySeconds ?? 0) + 2 * visibilityTimeoutSeconds(queue.name)
}

const consumersOf = (name: QueueName) => queueConsumers.filter((c) => c.queue === name)

/** The longest timeout among the consumers of `name` times the factor: no message reappears mid-invocation. */
export function visibilityTimeoutSeconds(name: QueueName): number {
  const consumers = consumersOf(name)
  if (consumers.length === 0) throw new Error(`lib/routes.ts has no consumer for the ${name} queue`)
  return Math.max(...consumers.map((c) => functionSettings(c).timeoutSeconds)) * VISIBILITY_TIMEOUT_FACTOR
}

const routeTimeout = (id: string): number => {
  const route = (routes as readonly Route[]).find((r) => r.id === id)
  if (!route) throw new Error(`lib/routes.ts has no route ${id}`)
  return functionSettings(route).timeoutSeconds
}

/**
 * How long a multipart upload stays open for parts: the functions' `MULTIPART_UPLOAD_TTL_SECONDS` and the bucket's
 * AbortIncompleteMultipartUpload rule (`multipartAbortDays`) both come from this one number.
 */
export const MULTIPART_UPLOAD_TTL_SECONDS = DAY_SECONDS

/**
 * S3 lifecycle rules count whole days (and act some time after the day ends), so the rule rounds up: storage never
 * aborts an upload whose parts the API still signs. The sweeper aborts it first, after the TTL plus its grace.
 */
export function multipartAbortDays(ttlSeconds: number = MULTIPART_UPLOAD_TTL_SECONDS): number {
  return Math.ceil(ttlSeconds / DAY_SECONDS)
}

/**
 * The values the functions must agree on with the queues, the bucket and each other, as the environment variables
 * `functions/core/config.ts` reads. The stack sets exactly these on every function and the local runtime
 * applies the same, so a test can compare the two.
 */
export function pipelineEnvironment(): Record<string, string> {
  const hashTimeout = Math.max(...consumersOf('files').map((c) => functionSettings(c).timeoutSeconds))
  return {
    // A SYNCING claim older than the hash function's timeout cannot have a live worker.
    STALE_CLAIM_SECONDS: String(hashTimeout + 30),
    // The last delivery marks a failing file FAILED before the message goes to the dead-letter queue.
    MAX_RECEIVE_COUNT: String(queueSettings('files').maxReceiveCount),
    // A file idle in UPLOADED/SYNCING is re-published only once its message would have been redelivered.
    STUCK_AFTER_SECONDS: String(visibilityTimeoutSeconds('files') + 180),
    // The relay sweep leaves the outbox rows a function publishes right after its commit (confirm's, a final
    // transition's) to that function while it may still run.
    EAGER_PUBLISH_LEASE_SECONDS: String(routeTimeout('ConfirmUploads')),
    // The bucket's lifecycle rule aborts what is left of a multipart upload after the same window.
    MULTIPART_UPLOAD_TTL_SECONDS: String(MULTIPART_UPLOAD_TTL_SECONDS),
  }
}

const MiB = 1024 ** 2

/**
 * The hash stage's read window (HASH_RANGE_BYTES, HASH_READ_CONCURRENCY default to it): ranged GetObjects of
 * `rangeBytes`, `concurrency` of them in flight per file. AWS advises 8-16 MB ranges; four connections of
 * ~90 MB/s each outrun the checkpointed hasher, so more would only hold more memory.
 */
export const HASH_READ_WINDOW = { rangeBytes: 8 * MiB, concurrency: 4 } as const

/**
 * What the hash function's process needs before it reads anything: Node, the bundled clients and a loaded
 * hasher (~100-140 MB measured by test/integration/workers/hash-peak-rss.ts, which also pays for tsx), plus what
 * V8 lets garbage reach before it collects: its young generation (2 x 16 MiB) and the 64 MiB of external memory
 * after which it starts a full collection.
 */
export const HASH_RUNTIME_BASE_MB = 256

/**
 * Peak memory of one file's read, in windows: the window itself and as much again of chunks hashed but not yet
 * freed (test/integration/hash-memory.test.ts bounds it; docs/CAPACITY.md §6 has the figures).
 */
export const HASH_WINDOWS_PER_READ = 2

/**
 * The least memory the hash function can run with: its consumer hands every record of a batch to the hash
 * stage at once (powertools' BatchProcessor processes records in parallel), each holding its read's windows.
 */
export function hashMemoryFloorMb(window: { rangeBytes: number; concurrency: number } = HASH_READ_WINDOW): number {
  const consumer = queueConsumers.find((c) => c.id === 'HashFile')
  if (!consumer) throw new Error('lib/routes.ts has no HashFile consumer')
  const perRecordMb = (HASH_WINDOWS_PER_READ * window.rangeBytes * window.concurrency) / MiB
  return HASH_RUNTIME_BASE_MB + consumer.batchSize * perRecordMb
}

/**
 * The bucket's CORS rule: browsers POST small files and PUT multipart parts straight to storage, and must read
 * the part's ETag, which is not a CORS-safelisted response header.
 */
export const BUCKET_CORS = {
  allowedMethods: ['POST', 'PUT', 'GET', 'HEAD'],
  allowedHeaders: ['*'],
  exposedHeaders: ['ETag'],
  maxAgeSeconds: 3600,
} as const

/**
 * The local runtime runs every scheduled task this many times as often as the stack does, so that a
 * developer sees the relay's sweep and the sweeper work within seconds rather than minutes.
 */
export const LOCAL_SCHEDULE_SPEEDUP = 60

/** How often the local runtime runs `task`, in milliseconds. */
export function localScheduleIntervalMs(task: (typeof scheduledTasks)[number]): number {
  return (task.everySeconds * 1000) / LOCAL_SCHEDULE_SPEEDUP
}

/**
 * The largest file the local clamd scans, and so the pipeline's default `MALWARE_SCAN_MAX_BYTES`:
 * `scripts/clamd.sh` writes it into clamd.conf as StreamMaxLength, MaxFileSize and MaxScanSize. ClamAV cannot
 * scan a file of 2 GiB or more, so this is as far as it goes; a larger file is QUARANTINED `NOT_SCANNED` locally
 * (on AWS, GuardDuty Malware Protection scans objects up to 100 GB). clamd's own default, 25 MiB, would have sent
 * a developer's every video there.
 */
export const CLAMD_SCAN_MAX_BYTES = 2047 * 1024 ** 2

/**
 * clamd's MaxScanTime, written into clamd.conf by `scripts/clamd.sh`: past it clamd stops and, with
 * AlertExceedsMax, answers Heuristics.Limits.Exceeded.MaxScanTime. The scanner waits at most this long for a verdict
 * after the last chunk, beyond its idle timeout (functions/core/clamav.ts): a 1 GiB stream took clamd about 12 s here.
 */
export const CLAMD_MAX_SCAN_TIME_MS = 120_000

/**
 * The upload page's Content-Security-Policy: its scripts and styles are its own files (bundled, no CDN, nothing
 * inline), and it talks only to its own origin plus `connectSources` (the API and the files bucket). Images may be
 * `data:` and `blob:` URLs, the previews the page makes of files still on the user's disk.
 */
export function pageContentSecurityPolicy(connectSources: readonly string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    // Uppy's Dashboard sets element.style properties from script (progress widths, sizes); those are CSSOM
    // changes, which style-src does not restrict, so no 'unsafe-inline' is needed.
    "style-src 'self'",
    // blob: for the Dashboard's thumbnails of images picked from disk; data: for the SVG icons in Uppy's CSS.
    "img-src 'self' data: blob:",
    ["connect-src 'self'", ...connectSources].join(' '),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
}
