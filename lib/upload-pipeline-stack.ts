import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib'
import type * as logs from 'aws-cdk-lib/aws-logs'
import type { Construct } from 'constructs'
import { Api, type JwtSettings } from './constructs/api.js'
import type { AppFunctionDefaults } from './constructs/app-function.js'
import { Data, type CacheSettings, type DatabaseSettings } from './constructs/data.js'
import { Migrations } from './constructs/migrations.js'
import { MalwareProtection } from './constructs/malware-protection.js'
import { Monitoring } from './constructs/monitoring.js'
import { Network } from './constructs/network.js'
import { Site, type SiteBuild } from './constructs/site.js'
import { pipelineEnvironment, queueId, queues } from './settings.js'

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
  /**
   * Builds the upload page (`buildSiteSync` of `web/build.ts`) for the static site. Without it the stack has no
   * site (`-c site=false`).
   */
  readonly buildSite?: SiteBuild
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

    // First, because the API and the files bucket allow its origin; it gets the API's URL once that exists.
    const site = props.buildSite ? new Site(this, 'Site', { build: props.buildSite }) : undefined
    const corsOrigins = site ? [...props.corsOrigins, site.url] : props.corsOrigins

    const network = new Network(this, 'Network', { cidr: props.vpcCidr, maxAzs: 2, logRetention: props.logRetention })
    const data = new Data(this, 'Data', {
      vpc: network.vpc,
      subnets: network.subnets,
      secretsManagerEndpoint: network.secretsManagerEndpoint,
      corsOrigins,
      database: props.database,
      cache: props.cache,
      logRetention: props.logRetention,
    })

    // Off, the scan-results queue and its consumer stay (idle): only GuardDuty and the path of its events go.
    const malwareProtection = props.malwareScanning
      ? new MalwareProtection(this, 'MalwareProtection', { bucket: data.bucket, queues: data.queues['scan-results'] })
      : undefined

    const functionDefaults: AppFunctionDefaults = {
      vpc: network.vpc,
      vpcSubnets: network.subnets,
      logRetention: props.logRetention,
      skipBundling: props.skipBundling,
      environment: {
        ...tunablesEnvironment(props.tunables ?? {}),
        ...pipelineEnvironment(),
        MALWARE_SCANNER: malwareProtection ? 'guardduty' : 'off',
      },
    }
    const api = new Api(this, 'Api', {
      resources: data,
      functionDefaults,
      jwt: props.jwt,
      corsOrigins,
      throttle: props.throttle,
      logRetention: props.logRetention,
    })
    const migrations = new Migrations(this, 'Migrations', {
      resources: data,
      functionDefaults,
      after: [data],
      before: [api],
    })
    const monitoring = new Monitoring(this, 'Monitoring', {
      httpApi: api.httpApi,
      queues: data.queues,
      functions: [...api.functions, migrations.function],
      outboxAgeThresholdSeconds: 300,
      alarmEmail: props.alarmEmail,
      webhooks: {
        failedAttemptsThreshold: 100,
      },
    })

    // The endpoint without the stage's trailing slash: the page appends paths that start with one.
    site?.publish({ apiBase: api.httpApi.apiEndpoint })

    new CfnOutput(this, 'ApiUrl', { value: api.url })
    if (site) new CfnOutput(this, 'SiteUrl', { value: site.url, description: 'The upload page' })
    new CfnOutput(this, 'BucketName', { value: data.bucket.bucketName })
    new CfnOutput(this, 'QueueUrl', { value: data.queue.queueUrl })
    new CfnOutput(this, 'DlqUrl', { value: data.deadLetterQueue.queueUrl })
    // The other queues, for `npm run redrive -- --aws --queue-url ...` when their dead-letter alarm fires.
    for (const { name } of queues.filter((q) => q.name !== 'files')) {
      new CfnOutput(this, `${queueId(name)}QueueUrl`, { value: data.queues[name].queue.queueUrl })
    }
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
