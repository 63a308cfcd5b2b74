import { S3_MAX_OBJECT_SIZE, S3_MAX_PART_SIZE, S3_MAX_POST_SIZE, S3_MIN_PART_SIZE } from './aws-limits.js'
import { CLAMD_SCAN_MAX_BYTES, HASH_READ_WINDOW, pipelineEnvironment } from '../../lib/settings.js'
import { DEFAULT_RETRY_SCHEDULE_SECONDS, DELIVERY_LEASE_SECONDS } from './webhooks.js'

/**
 * One typed, frozen configuration, parsed once per execution environment from the environment.
 * Required variables fail fast with their name; tunables have documented defaults.
 */
export interface Config {
  readonly region: string
  /** Set locally (LocalStack); unset on AWS, where the SDK resolves the regional endpoint. */
  readonly awsEndpointUrl: string | undefined
  readonly s3ForcePathStyle: boolean
  readonly bucketName: string
  readonly queueUrl: string
  readonly databaseUrl: string
  readonly databasePoolMax: number
  /** Connect with short-lived IAM tokens (RDS Proxy on AWS) instead of a password in the URL. */
  readonly databaseIamAuth: boolean
  readonly redisUrl: string
  readonly redisTls: boolean
  /** ElastiCache Serverless speaks the cluster protocol only. */
  readonly redisCluster: boolean
  /** Lifetime of a presigned POST. */
  readonly uploadUrlTtlSeconds: number
  /** Lifetime of a presigned GET `download_url`. */
  readonly downloadUrlTtlSeconds: number
  readonly maxFileSize: number
  /** A declared size above this is uploaded in parts (`upload_type: "multipart"`); at most S3's POST limit. */
  readonly multipartThreshold: number
  /** The preferred part size; raised where needed to keep a file within S3's 10,000 parts. */
  readonly multipartPartSize: number
  /** Lifetime of one presigned UploadPart URL; a client asks for fresh ones at any time. */
  readonly partUrlTtlSeconds: number
  /** How long a multipart upload may take before the sweeper expires it and aborts its parts. */
  readonly multipartUploadTtlSeconds: number
  /** Files up to this size are cached in Redis and returned inline by `GET /files/{id}`. */
  readonly cacheMaxBytes: number
  readonly cacheTtlSeconds: number
  readonly allowedContentTypes: readonly string[]
  readonly presignRateLimit: number
  readonly presignRateWindowSeconds: number
  /** A SYNCING claim older than this is considered abandoned and may be retaken. */
  readonly staleClaimSeconds: number
  /** Grace after a presigned POST expires before a never-confirmed upload becomes EXPIRED. */
  readonly expiryGraceSeconds: number
  /** An UPLOADED or SYNCING file idle this long is re-published by the sweeper. */
  readonly stuckAfterSeconds: number
  /** The queue's maxReceiveCount: the last delivery marks a failing file FAILED before the DLQ. */
  readonly maxReceiveCount: number
  /**
   * How long the relay sweep leaves a confirm's outbox rows to that confirm's own publish: the confirm
   * function's timeout, so the sweep never races a confirm that may still be running.
   */
  readonly eagerPublishLeaseSeconds: number
  readonly outboxRetentionHours: number
  /** The hash stage reads objects larger than this as ranges of this size, `hashReadConcurrency` at a time. */
  readonly hashRangeBytes: number
  readonly hashReadConcurrency: number
  /**
   * Objects up to this size are hashed in one pass with node:crypto (fast, not resumable); larger ones with the
   * checkpointed hash-wasm SHA-256, across invocations when needed.
   */
  readonly hashSinglePassMaxBytes: number
  /** The hash stage saves its state to Postgres each time it has hashed this many more bytes. */
  readonly hashCheckpointBytes: number
  /**
   * Caps one invocation's hashing time (local runs and tests force continuations with it); unset on AWS,
   * where the budget comes from the Lambda context's remaining time alone.
   */
  readonly hashInvocationBudgetMs: number | undefined
  /** The EventBridge bus every file event is put on (FILES_EVENT_BUS_NAME). */
  readonly eventBusName: string | undefined
  /** Where the relay hands webhook deliveries to the sender (WEBHOOKS_QUEUE_URL). */
  readonly webhooksQueueUrl: string | undefined
  /** Where the sender reports each attempt back (WEBHOOK_RESULTS_QUEUE_URL). */
  readonly webhookResultsQueueUrl: string | undefined
  /** Lets webhooks reach loopback and private addresses: the local runtime's default, never the stack's. */
  readonly webhookAllowPrivateNetworks: boolean
  /** Seconds to wait after each failed attempt; when they run out the endpoint is disabled. */
  readonly webhookRetryScheduleSeconds: readonly number[]
  /** How long a rotated-out secret keeps signing beside the new one. */
  readonly webhookSecretGraceSeconds: number
  /**
   * How long a dispatched attempt may take to report back before it is dispatched again (WEBHOOK_DELIVERY_LEASE_SECONDS):
   * also how long a delivery waits when its dispatcher died between claiming it and queueing it.
   */
  readonly webhookDeliveryLeaseSeconds: number
  readonly malwareScanning: MalwareScanningConfig
}

/** Which scanner checks uploads before they are served, and what a file it cannot scan becomes. */
export interface MalwareScanningConfig {
  /** `clamav`: clamd INSTREAM inside the hash stage; `guardduty`: GuardDuty's result event; `off`: no scan. */
  readonly scanner: 'clamav' | 'guardduty' | 'off'
  readonly clamdHost: string
  readonly clamdPort: number
  /** A clamd that answers nothing for this long counts as unavailable: the file waits and is retried. */
  readonly clamdTimeoutMs: number
  /** Files larger than this are not sent to clamd; keep it at or below clamd's StreamMaxLength. */
  readonly maxScanBytes: number
  /** What a file that could not be scanned (over the limit, or GuardDuty UNSUPPORTED/FAILED) becomes: never SYNCED. */
  readonly unscannable: 'quarantine' | 'fail'
}

type Env = Readonly<Record<string, string | undefined>>

const SHARED = pipelineEnvironment()

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

const DEFAULT_CONTENT_TYPES = [
  'text/csv',
  'text/plain',
  'application/json',
  'application/pdf',
  'application/octet-stream',
  'application/zip',
  'application/gzip',
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
]

export function loadConfig(env: Env = process.env): Config {
  const required = (name: string): string => {
    const value = env[name]?.trim()
    if (!value) throw new ConfigError(`Missing required environment variable ${name}`)
    return value
  }
  const integer = (name: string, fallback: number, min = 0): number => {
    const raw = env[name]?.trim()
    if (raw === undefined || raw === '') return fallback
    const value = Number(raw)
    if (!Number.isSafeInteger(value) || value < min) {
      throw new ConfigError(`Environment variable ${name} must be an integer >= ${min}, got "${raw}"`)
    }
    return value
  }
  const flag = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.trim().toLowerCase()
    if (raw === undefined || raw === '') return fallback
    if (raw === 'true' || raw === '1') return true
    if (raw === 'false' || raw === '0') return false
    throw new ConfigError(`Environment variable ${name} must be true or false, got "${raw}"`)
  }
  // The values the functions must agree on with the queues default to what the stack derives (lib/settings.ts).
  const shared = (name: keyof typeof SHARED, min: number): number => integer(name, Number(SHARED[name]), min)
  const list = (name: string, fallback: readonly string[]): readonly string[] => {
    const raw = env[name]?.trim()
    if (!raw) return fallback
    return raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
  }

  const seconds = (name: string, fallback: readonly number[]): readonly number[] => {
    const raw = env[name]?.trim()
    if (!raw) return fallback
    const values = raw.split(',').map((s) => Number(s.trim()))
    if (values.some((v) => !Number.isSafeInteger(v) || v < 0)) {
      throw new ConfigError(`Environment variable ${name} must be comma-separated integers >= 0, got "${raw}"`)
    }
    return Object.freeze(values)
  }
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const raw = env[name]?.trim().toLowerCase()
    if (raw === undefined || raw === '') return fallback
    if (!(allowed as readonly string[]).includes(raw)) {
      throw new ConfigError(`Environment variable ${name} must be one of ${allowed.join(', ')}, got "${raw}"`)
    }
    return raw as T
  }

  const config: Config = {
    region: env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || required('AWS_REGION'),
    awsEndpointUrl: env.AWS_ENDPOINT_URL?.trim() || undefined,
    s3ForcePathStyle: flag('S3_FORCE_PATH_STYLE', false),
    bucketName: required('FILES_BUCKET_NAME'),
    queueUrl: required('FILES_QUEUE_URL'),
    databaseUrl: required('DATABASE_URL'),
    databasePoolMax: integer('DATABASE_POOL_MAX', 2, 1),
    databaseIamAuth: flag('DATABASE_IAM_AUTH', false),
    redisUrl: required('REDIS_URL'),
    redisTls: flag('REDIS_TLS', false),
    redisCluster: flag('REDIS_CLUSTER', false),
    uploadUrlTtlSeconds: integer('UPLOAD_URL_TTL_SECONDS', 900, 1),
    downloadUrlTtlSeconds: integer('DOWNLOAD_URL_TTL_SECONDS', 300, 1),
    maxFileSize: integer('MAX_FILE_SIZE', S3_MAX_OBJECT_SIZE, 1),
    multipartThreshold: integer('MULTIPART_THRESHOLD', 100 * 1024 ** 2, 0),
    // S3's performance guide suggests 8-16 MB ranges; parts of that size keep memory per part in flight small.
    multipartPartSize: integer('MULTIPART_PART_SIZE', 8 * 1024 ** 2, S3_MIN_PART_SIZE),
    partUrlTtlSeconds: integer('PART_URL_TTL_SECONDS', 600, 1),
    multipartUploadTtlSeconds: shared('MULTIPART_UPLOAD_TTL_SECONDS', 1),
    cacheMaxBytes: integer('CACHE_MAX_BYTES', 1024 ** 2, 0),
    cacheTtlSeconds: integer('CACHE_TTL_SECONDS', 86_400, 1),
    allowedContentTypes: list('ALLOWED_CONTENT_TYPES', DEFAULT_CONTENT_TYPES),
    // Files, not requests: a folder of 500 small files from one user goes through in one go.
    presignRateLimit: integer('PRESIGN_RATE_LIMIT', 1000, 0),
    presignRateWindowSeconds: integer('PRESIGN_RATE_WINDOW_SECONDS', 60, 1),
    staleClaimSeconds: shared('STALE_CLAIM_SECONDS', 1),
    expiryGraceSeconds: integer('EXPIRY_GRACE_SECONDS', 300, 0),
    stuckAfterSeconds: shared('STUCK_AFTER_SECONDS', 1),
    maxReceiveCount: shared('MAX_RECEIVE_COUNT', 1),
    eagerPublishLeaseSeconds: shared('EAGER_PUBLISH_LEASE_SECONDS', 0),
    outboxRetentionHours: integer('OUTBOX_RETENTION_HOURS', 72, 0),
    hashRangeBytes: integer('HASH_RANGE_BYTES', HASH_READ_WINDOW.rangeBytes, 1),
    hashReadConcurrency: integer('HASH_READ_CONCURRENCY', HASH_READ_WINDOW.concurrency, 1),
    // A save is a guarded UPDATE (~5 ms here): every 128 MiB it costs under 2 % of hash-wasm's fastest rate, and a
    // crash re-reads at most that much (~1.3 s at S3's speed) plus the read window.
    hashCheckpointBytes: integer('HASH_CHECKPOINT_BYTES', 128 * 1024 ** 2, 1),
    hashSinglePassMaxBytes: integer('HASH_SINGLE_PASS_MAX_BYTES', 1024 ** 3, 0),
    hashInvocationBudgetMs: env.HASH_INVOCATION_BUDGET_MS?.trim() ? integer('HASH_INVOCATION_BUDGET_MS', 0, 1) : undefined,
    eventBusName: env.FILES_EVENT_BUS_NAME?.trim() || undefined,
    webhooksQueueUrl: env.WEBHOOKS_QUEUE_URL?.trim() || undefined,
    webhookResultsQueueUrl: env.WEBHOOK_RESULTS_QUEUE_URL?.trim() || undefined,
    webhookAllowPrivateNetworks: flag('WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
    webhookRetryScheduleSeconds: seconds('WEBHOOK_RETRY_SCHEDULE_SECONDS', DEFAULT_RETRY_SCHEDULE_SECONDS),
    webhookSecretGraceSeconds: integer('WEBHOOK_SECRET_GRACE_SECONDS', 86_400, 0),
    webhookDeliveryLeaseSeconds: integer('WEBHOOK_DELIVERY_LEASE_SECONDS', DELIVERY_LEASE_SECONDS, 1),
    // On unless switched off: with no clamd the files wait rather than pass unscanned.
    malwareScanning: Object.freeze({
      scanner: oneOf('MALWARE_SCANNER', ['clamav', 'guardduty', 'off'] as const, 'clamav'),
      clamdHost: env.CLAMD_HOST?.trim() || '127.0.0.1',
      clamdPort: integer('CLAMD_PORT', 3310, 1),
      clamdTimeoutMs: integer('CLAMD_TIMEOUT_MS', 30_000, 1),
      // What the local clamd is configured to take (scripts/clamd.sh writes the same setting).
      maxScanBytes: integer('MALWARE_SCAN_MAX_BYTES', CLAMD_SCAN_MAX_BYTES, 1),
      unscannable: oneOf('MALWARE_UNSCANNABLE', ['quarantine', 'fail'] as const, 'quarantine'),
    }),
  }
  // Larger files go in parts; inline content must fit Lambda's 6 MB response once base64-encoded.
  if (config.maxFileSize > S3_MAX_OBJECT_SIZE) {
    throw new ConfigError(`MAX_FILE_SIZE must be at most ${S3_MAX_OBJECT_SIZE} (S3's object maximum)`)
  }
  if (config.multipartThreshold > S3_MAX_POST_SIZE) {
    throw new ConfigError(`MULTIPART_THRESHOLD must be at most ${S3_MAX_POST_SIZE} (S3's POST limit)`)
  }
  if (config.multipartPartSize > S3_MAX_PART_SIZE) {
    throw new ConfigError(`MULTIPART_PART_SIZE must be at most ${S3_MAX_PART_SIZE} (S3's part limit)`)
  }
  if (config.cacheMaxBytes > 4 * 1024 ** 2) throw new ConfigError('CACHE_MAX_BYTES must be at most 4 MiB (Lambda response limit)')
  return Object.freeze(config)
}
