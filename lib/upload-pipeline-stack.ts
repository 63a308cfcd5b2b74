import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib'
import type * as logs from 'aws-cdk-lib/aws-logs'
import type { Construct } from 'constructs'
import { Api, type JwtSettings } from './constructs/api.js'
import type { AppFunctionDefaults } from './constructs/app-function.js'
import { Data, type CacheSettings, type DatabaseSettings } from './constructs/data.js'
import { Migrations } from './constructs/migrations.js'
import { MalwareProtection } from './constructs/malware-protection.js'
import { Monitoring } from './constructs/monitoring.js'
import { Network } from './constructs/network.js'
import { queueConsumers, VISIBILITY_TIMEOUT_FACTOR } from './routes.js'

/** Deliveries of a message before SQS moves it to the dead-letter queue. */
const MAX_RECEIVE_COUNT = 5

/** Optional overrides of the defaults in `functions/core/config.ts`; unset ones keep those defaults. */
export interface PipelineTunables {
  readonly uploadUrlTtlSeconds?: number
  readonly downloadUrlTtlSeconds?: number
  readonly maxFileSize?: number
  readonly cacheMaxBytes?: number
  readonly allowedContentTypes?: readonly string[]
  readonly presignRateLimit?: number
  readonly expiryGraceSeconds?: number
  readonly outboxRetentionHours?: number
}

export interface UploadPipelineStackProps extends StackProps {
  readonly jwt: JwtSettings
  readonly corsOrigins: readonly string[]
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number }
  readonly vpcCidr: string
  readonly database: DatabaseSettings
  readonly cache: CacheSettings
  readonly logRetention: logs.RetentionDays
  readonly tunables?: PipelineTunables
  readonly alarmEmail?: string
  /**
   * GuardDuty Malware Protection on the files bucket, with its verdicts applied before a file is SYNCED. Off, files
   * are served unscanned (functions get MALWARE_SCANNER=off).
   */
  readonly malwareScanning: boolean
  /** See `AppFunctionDefaults.skipBundling`: infrastructure tests only. */
  readonly skipBundling?: boolean
}

/**
 * The whole pipeline in one stack. The construct ids below are part of every logical id under them: renaming
 * `Data` (or anything inside it) replaces the bucket, database, cache and queues.
 */
export class UploadPipelineStack extends Stack {
  constructor(scope: Construct, id: string, props: UploadPipelineStackProps) {
    super(scope, id, props)

    // AWS recommends a visibility timeout of at least six times the consumer's timeout, so that a batch the
    // event source retries (after throttling, say) is not redelivered while an invocation still works on it.
    const consumerTimeout = Duration.seconds(
      Math.max(...queueConsumers.filter((c) => c.queue === 'files').map((c) => c.timeoutSeconds)),
    )
    const visibilityTimeout = Duration.seconds(consumerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR)

    const network = new Network(this, 'Network', { cidr: props.vpcCidr, maxAzs: 2, logRetention: props.logRetention })
    const data = new Data(this, 'Data', {
      vpc: network.vpc,
      subnets: network.subnets,
      secretsManagerEndpoint: network.secretsManagerEndpoint,
      corsOrigins: props.corsOrigins,
      queueVisibilityTimeout: visibilityTimeout,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      database: props.database,
      cache: props.cache,
      logRetention: props.logRetention,
    })

    const scanResultsConsumer = queueConsumers.find((c) => c.queue === 'scan-results')
    const malwareProtection =
      props.malwareScanning && scanResultsConsumer
        ? new MalwareProtection(this, 'MalwareProtection', {
            bucket: data.bucket,
            queueVisibilityTimeout: Duration.seconds(scanResultsConsumer.timeoutSeconds * VISIBILITY_TIMEOUT_FACTOR),
            maxReceiveCount: MAX_RECEIVE_COUNT,
          })
        : undefined

    const functionDefaults: AppFunctionDefaults = {
      vpc: network.vpc,
      vpcSubnets: network.subnets,
      logRetention: props.logRetention,
      skipBundling: props.skipBundling,
      environment: {
        ...tunablesEnvironment(props.tunables ?? {}),
        // Settings the functions must agree on with the queue, derived from the same numbers:
        // a SYNCING claim older than the hash timeout has no live worker; the last delivery marks a file FAILED;
        // a file idle in UPLOADED/SYNCING is re-published only once its message would have been redelivered.
        STALE_CLAIM_SECONDS: String(consumerTimeout.toSeconds() + 30),
        MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
        STUCK_AFTER_SECONDS: String(visibilityTimeout.toSeconds() + 180),
        MALWARE_SCANNER: malwareProtection ? 'guardduty' : 'off',
      },
    }
    const api = new Api(this, 'Api', {
      resources: data,
      functionDefaults,
      jwt: props.jwt,
      corsOrigins: props.corsOrigins,
      throttle: props.throttle,
      logRetention: props.logRetention,
      scanResultsQueue: malwareProtection?.queue,
    })
    const migrations = new Migrations(this, 'Migrations', {
      resources: data,
      functionDefaults,
      after: [data],
      before: [api],
    })
    const monitoring = new Monitoring(this, 'Monitoring', {
      httpApi: api.httpApi,
      queue: data.queue,
      deadLetterQueue: data.deadLetterQueue,
      functions: [...api.functions, migrations.function],
      outboxAgeThresholdSeconds: 300,
      queueAgeThresholdSeconds: visibilityTimeout.toSeconds() * 2,
      alarmEmail: props.alarmEmail,
    })

    new CfnOutput(this, 'ApiUrl', { value: api.url })
    new CfnOutput(this, 'BucketName', { value: data.bucket.bucketName })
    new CfnOutput(this, 'QueueUrl', { value: data.queue.queueUrl })
    new CfnOutput(this, 'DlqUrl', { value: data.deadLetterQueue.queueUrl })
    new CfnOutput(this, 'DatabaseSecretArn', { value: data.databaseSecret.secretArn })
    new CfnOutput(this, 'DatabaseClusterArn', { value: data.databaseClusterArn })
    new CfnOutput(this, 'MigrateFunctionName', { value: migrations.function.functionName })
    new CfnOutput(this, 'AlarmTopicArn', { value: monitoring.alarmTopic.topicArn })
    new CfnOutput(this, 'DashboardName', { value: monitoring.dashboard.dashboardName })
  }
}

function tunablesEnvironment(t: PipelineTunables): Record<string, string> {
  const entries: [string, string | number | readonly string[] | undefined][] = [
    ['UPLOAD_URL_TTL_SECONDS', t.uploadUrlTtlSeconds],
    ['DOWNLOAD_URL_TTL_SECONDS', t.downloadUrlTtlSeconds],
    ['MAX_FILE_SIZE', t.maxFileSize],
    ['CACHE_MAX_BYTES', t.cacheMaxBytes],
    ['ALLOWED_CONTENT_TYPES', t.allowedContentTypes],
    ['PRESIGN_RATE_LIMIT', t.presignRateLimit],
    ['EXPIRY_GRACE_SECONDS', t.expiryGraceSeconds],
    ['OUTBOX_RETENTION_HOURS', t.outboxRetentionHours],
  ]
  return Object.fromEntries(
    entries.flatMap(([name, value]) =>
      value === undefined ? [] : [[name, Array.isArray(value) ? value.join(',') : String(value)]],
    ),
  )
}
