import { App, Tags, Validations } from 'aws-cdk-lib'
import { RetentionDays } from 'aws-cdk-lib/aws-logs'
import { AwsSolutionsChecks } from 'cdk-nag'
import type { SiteBuild } from '../lib/constructs/site.js'
import { UploadPipelineStack } from '../lib/upload-pipeline-stack.js'

// The only place that reads configuration for the infrastructure: CDK context (`-c key=value` or cdk.json),
// turned into typed props. Everything has a default so that `cdk synth` works with no arguments and offline.
const app = new App()

const context = {
  string(key: string, fallback: string): string {
    const value = app.node.tryGetContext(key)
    return value === undefined || value === '' ? fallback : String(value)
  },
  optionalString(key: string): string | undefined {
    const value = app.node.tryGetContext(key)
    return value === undefined || value === '' ? undefined : String(value)
  },
  number(key: string, fallback: number): number {
    return this.optionalNumber(key) ?? fallback
  },
  optionalNumber(key: string): number | undefined {
    const raw = app.node.tryGetContext(key)
    if (raw === undefined || raw === '') return undefined
    const value = Number(raw)
    if (!Number.isFinite(value) || value < 0) throw new Error(`Context ${key} must be a non-negative number, got "${raw}"`)
    return value
  },
  boolean(key: string, fallback: boolean): boolean {
    const raw = app.node.tryGetContext(key)
    if (raw === undefined || raw === '') return fallback
    if (raw === true || raw === 'true') return true
    if (raw === false || raw === 'false') return false
    throw new Error(`Context ${key} must be true or false, got "${raw}"`)
  },
  list(key: string, fallback: readonly string[]): readonly string[] {
    return this.optionalList(key) ?? fallback
  },
  /** A JSON array in cdk.json, or a comma-separated string on the command line. */
  optionalList(key: string): readonly string[] | undefined {
    const raw = app.node.tryGetContext(key)
    if (raw === undefined || raw === '') return undefined
    const items = Array.isArray(raw) ? raw.map(String) : String(raw).split(',')
    return items.map((s) => s.trim()).filter(Boolean)
  },
}

const PLACEHOLDER_ISSUER = 'https://issuer.invalid/'
const issuer = context.string('issuer', PLACEHOLDER_ISSUER)
const logRetentionDays = context.number('logRetentionDays', RetentionDays.ONE_MONTH)
if (!Object.values(RetentionDays).includes(logRetentionDays)) {
  throw new Error(`Context logRetentionDays must be a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, ...), got ${logRetentionDays}`)
}

// The page's own build (web/build.ts: esbuild and the static files), loaded only when the site is deployed, so that
// `-c site=false` synthesizes without loading esbuild.
const buildSite: SiteBuild | undefined = context.boolean('site', true) ? (await import('../web/build.js')).buildSiteSync : undefined

// No account or region: the stack is environment-agnostic, so synth needs no credentials and no lookups, and
// the CLI's profile decides where it deploys. (That limits the VPC to two AZs, which is what it uses.)
const stack = new UploadPipelineStack(app, context.string('stackName', 'UploadPipeline'), {
  description: 'Serverless file-upload pipeline: presigned S3 POST, transactional outbox, SQS, SHA-256, Valkey cache',
  terminationProtection: context.boolean('terminationProtection', true),
  jwt: { issuer, audience: context.list('audience', ['upload-pipeline']) },
  corsOrigins: context.list('corsOrigins', ['http://localhost:3000']),
  throttle: { rateLimit: context.number('throttleRateLimit', 100), burstLimit: context.number('throttleBurstLimit', 200) },
  vpcCidr: context.string('vpcCidr', '10.40.0.0/16'),
  database: {
    minCapacity: context.number('databaseMinCapacity', 0.5),
    maxCapacity: context.number('databaseMaxCapacity', 4),
    readers: context.number('databaseReaders', 1),
    backupRetentionDays: context.number('databaseBackupRetentionDays', 7),
  },
  cache: {
    maxDataGb: context.number('cacheMaxDataGb', 5),
    maxEcpuPerSecond: context.number('cacheMaxEcpuPerSecond', 5000),
  },
  logRetention: logRetentionDays as RetentionDays,
  alarmEmail: context.optionalString('alarmEmail'),
  // On unless `-c malwareScanning=false`.
  malwareScanning: context.boolean('malwareScanning', true),
  buildSite,
  tunables: {
    uploadUrlTtlSeconds: context.optionalNumber('uploadUrlTtlSeconds'),
    downloadUrlTtlSeconds: context.optionalNumber('downloadUrlTtlSeconds'),
    maxFileSize: context.optionalNumber('maxFileSize'),
    cacheMaxBytes: context.optionalNumber('cacheMaxBytes'),
    allowedContentTypes: context.optionalList('allowedContentTypes'),
    presignRateLimit: context.optionalNumber('presignRateLimit'),
    expiryGraceSeconds: context.optionalNumber('expiryGraceSeconds'),
    outboxRetentionHours: context.optionalNumber('outboxRetentionHours'),
  },
})
Tags.of(app).add('project', 'upload-pipeline')

if (issuer === PLACEHOLDER_ISSUER) {
  Validations.of(stack).addWarning(
    'PlaceholderJwtIssuer',
    'No -c issuer=... given: every authenticated route will answer 401 until the stack is deployed with the real issuer.',
  )
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
