import { readFileSync } from 'node:fs'
import { App } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import { RetentionDays } from 'aws-cdk-lib/aws-logs'
import { UploadPipelineStack, type UploadPipelineStackProps } from '../../lib/upload-pipeline-stack.js'

/** The feature flags from cdk.json, so that tests synthesize what `cdk synth` does. */
const cdkJsonContext = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context

export const testProps: UploadPipelineStackProps = {
  jwt: { issuer: 'https://issuer.example.com/', audience: ['upload-pipeline'] },
  corsOrigins: ['https://app.example.com'],
  throttle: { rateLimit: 100, burstLimit: 200 },
  vpcCidr: '10.40.0.0/16',
  database: { minCapacity: 0.5, maxCapacity: 4, readers: 1, backupRetentionDays: 7 },
  cache: { maxDataGb: 5, maxEcpuPerSecond: 5000 },
  logRetention: RetentionDays.ONE_MONTH,
  skipBundling: true,
}

/** Synthesizes the stack with stub handler code: no handler sources, no esbuild, no AWS credentials. */
export function synthStack(overrides: Partial<UploadPipelineStackProps> = {}) {
  const app = new App({ context: cdkJsonContext })
  const stack = new UploadPipelineStack(app, 'UploadPipeline', { ...testProps, ...overrides })
  return { app, stack, template: Template.fromStack(stack) }
}
