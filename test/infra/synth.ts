import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { App } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import { RetentionDays } from 'aws-cdk-lib/aws-logs'
import { MIGRATE_ENTRY } from '../../lib/constructs/migrations.js'
import { queueConsumers, routes, scheduledTasks } from '../../lib/routes.js'
import { UploadPipelineStack, type UploadPipelineStackProps } from '../../lib/upload-pipeline-stack.js'

/** The feature flags from cdk.json, so that tests synthesize what `cdk synth` does. */
const cdkJsonContext = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context

/** Every handler the stack deploys, by construct id. */
export const entries: Readonly<Record<string, string>> = Object.fromEntries([
  ...[...routes, ...queueConsumers, ...scheduledTasks].map((f) => [f.id, f.entry]),
  ['Migrate', MIGRATE_ENTRY],
])

/**
 * What the site's build writes in these tests, in place of web/build.ts: infrastructure tests need neither the
 * page's dependencies nor a browser, only files to deploy. Each call is recorded.
 */
export const siteBuilds: string[] = []
export const STAND_IN_PAGE = { 'index.html': '<!doctype html><title>stand-in</title><script type="module" src="app.js"></script>', 'app.js': 'export {}\n' }
export function standInSiteBuild(outDir: string): void {
  siteBuilds.push(outDir)
  for (const [name, body] of Object.entries(STAND_IN_PAGE)) writeFileSync(join(outDir, name), body)
}

export const testProps: UploadPipelineStackProps = {
  jwt: { issuer: 'https://issuer.example.com/', audience: ['upload-pipeline'] },
  corsOrigins: ['https://app.example.com'],
  throttle: { rateLimit: 100, burstLimit: 200 },
  vpcCidr: '10.40.0.0/16',
  database: { minCapacity: 0.5, maxCapacity: 4, readers: 1, backupRetentionDays: 7 },
  cache: { maxDataGb: 5, maxEcpuPerSecond: 5000 },
  logRetention: RetentionDays.ONE_MONTH,
  malwareScanning: true,
  buildSite: standInSiteBuild,
  skipBundling: true,
}

/** Synthesizes the stack with stub handler code: no handler sources, no esbuild, no AWS credentials. */
export function synthStack(overrides: Partial<UploadPipelineStackProps> = {}) {
  const app = new App({ context: cdkJsonContext })
  const stack = new UploadPipelineStack(app, 'UploadPipeline', { ...testProps, ...overrides })
  return { app, stack, template: Template.fromStack(stack) }
}

/** A CloudFormation template is untyped JSON. */
export type Json = any

export interface AppFunctionResource {
  readonly logicalId: string
  readonly properties: Json
  /** Every IAM action its role is allowed, with the resources, flattened. */
  readonly statements: readonly { action: string; resource: Json }[]
}

/** The stack's own functions (not CDK's custom-resource providers), by construct id. */
export function appFunctions(template: Template): Record<string, AppFunctionResource> {
  const functions = template.findResources('AWS::Lambda::Function')
  const policies = Object.values(template.findResources('AWS::IAM::Policy'))
  const byEntry = Object.fromEntries(Object.entries(entries).map(([id, entry]) => [entry, id]))
  const result: Record<string, AppFunctionResource> = {}
  for (const [logicalId, resource] of Object.entries(functions)) {
    const id = byEntry[resource.Properties.Description]
    if (!id) continue
    const roleId = resource.Properties.Role['Fn::GetAtt'][0]
    const statements = policies
      .filter((p) => p.Properties.Roles.some((r: Json) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Json[])
      .flatMap((s) => [s.Action].flat().map((action: string) => ({ action, resource: s.Resource })))
    result[id] = { logicalId, properties: resource.Properties, statements }
  }
  return result
}

export function logicalIdsOf(template: Template, type: string): string[] {
  return Object.keys(template.findResources(type)).sort()
}
