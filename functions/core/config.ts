import { DEFAULT_RETRY_SCHEDULE_SECONDS } from './webhooks.js'

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
  readonly outboxRetentionHours: number
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
}

type Env = Readonly<Record<string, string | undefined>>

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
    maxFileSize: integer('MAX_FILE_SIZE', 5 * 1024 ** 3, 1),
    cacheMaxBytes: integer('CACHE_MAX_BYTES', 1024 ** 2, 0),
    cacheTtlSeconds: integer('CACHE_TTL_SECONDS', 86_400, 1),
    allowedContentTypes: list('ALLOWED_CONTENT_TYPES', DEFAULT_CONTENT_TYPES),
    presignRateLimit: integer('PRESIGN_RATE_LIMIT', 120, 0),
    presignRateWindowSeconds: integer('PRESIGN_RATE_WINDOW_SECONDS', 60, 1),
    // Longer than the hash function's timeout: a claim this old cannot have a live worker.
    staleClaimSeconds: integer('STALE_CLAIM_SECONDS', 330, 1),
    expiryGraceSeconds: integer('EXPIRY_GRACE_SECONDS', 300, 0),
    stuckAfterSeconds: integer('STUCK_AFTER_SECONDS', 900, 1),
    maxReceiveCount: integer('MAX_RECEIVE_COUNT', 5, 1),
    outboxRetentionHours: integer('OUTBOX_RETENTION_HOURS', 72, 0),
    eventBusName: env.FILES_EVENT_BUS_NAME?.trim() || undefined,
    webhooksQueueUrl: env.WEBHOOKS_QUEUE_URL?.trim() || undefined,
    webhookResultsQueueUrl: env.WEBHOOK_RESULTS_QUEUE_URL?.trim() || undefined,
    webhookAllowPrivateNetworks: flag('WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
    webhookRetryScheduleSeconds: seconds('WEBHOOK_RETRY_SCHEDULE_SECONDS', DEFAULT_RETRY_SCHEDULE_SECONDS),
    webhookSecretGraceSeconds: integer('WEBHOOK_SECRET_GRACE_SECONDS', 86_400, 0),
  }
  // Presigned POST is limited to 5 GiB by S3; inline content must fit Lambda's 6 MB response once base64-encoded.
  if (config.maxFileSize > 5 * 1024 ** 3) throw new ConfigError('MAX_FILE_SIZE must be at most 5 GiB (S3 POST limit)')
  if (config.cacheMaxBytes > 4 * 1024 ** 2) throw new ConfigError('CACHE_MAX_BYTES must be at most 4 MiB (Lambda response limit)')
  return Object.freeze(config)
}
