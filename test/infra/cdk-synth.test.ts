import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUNDLE } from '../../lib/constructs/app-function.js'
import { entries, type Json } from './synth.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** No credentials, profile or region: synth must need none of them. */
const offlineEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_'))),
  CDK_DISABLE_CLI_TELEMETRY: '1',
}

let outdir: string
let template: Json
let output: { stdout: string; stderr: string }
let seconds: number

// The real `cdk synth` from cdk.json: bin/app.ts reads the context, esbuild bundles every handler and the
// cdk-nag plugin fails synthesis on any unacknowledged finding. Without the static site: infrastructure tests do not
// build the page's bundle (web/build.ts); test/infra/site.test.ts covers the site with a stand-in build.
beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), 'cdk-out-'))
  const started = performance.now()
  output = await promisify(execFile)(
    join(ROOT, 'node_modules/.bin/cdk'),
    [
      'synth', '--quiet', '--no-notices', '--output', outdir,
      '-c', 'issuer=https://login.example.com/',
      '-c', 'audience=web,cli',
      '-c', 'corsOrigins=https://app.example.com,https://admin.example.com',
      '-c', 'maxFileSize=1048576',
      '-c', 'site=false',
    ],
    { cwd: ROOT, env: offlineEnv, timeout: 170_000, maxBuffer: 16 * 1024 ** 2 },
  )
  seconds = (performance.now() - started) / 1000
  template = JSON.parse(await readFile(join(outdir, 'UploadPipeline.template.json'), 'utf8'))
})
afterAll(async () => {
  console.info(`cdk synth took ${seconds?.toFixed(1)} s`)
  await rm(outdir, { recursive: true, force: true })
})

describe('cdk synth', () => {
  it('succeeds offline, without credentials, warnings or cdk-nag findings', () => {
    expect(output.stderr).not.toMatch(/\b(WARNING|ERROR)\b/)
  })

  it('turns context into the authorizer, CORS and function settings', () => {
    const resources = Object.values<Json>(template.Resources)
    const authorizer = resources.find((r) => r.Type === 'AWS::ApiGatewayV2::Authorizer')
    expect(authorizer.Properties.JwtConfiguration).toEqual({ Issuer: 'https://login.example.com/', Audience: ['web', 'cli'] })
    const origins = ['https://app.example.com', 'https://admin.example.com']
    expect(resources.find((r) => r.Type === 'AWS::ApiGatewayV2::Api').Properties.CorsConfiguration.AllowOrigins).toEqual(origins)
    expect(resources.filter((r) => r.Properties?.CorsConfiguration?.CorsRules).map((r) => r.Properties.CorsConfiguration.CorsRules[0].AllowedOrigins)).toEqual([origins])
    const presign = resources.find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Description === 'functions/presign-upload.ts')
    expect(presign.Properties.Environment.Variables.MAX_FILE_SIZE).toBe('1048576')
  })

  it('leaves the static site out when told to', () => {
    const types = Object.values<Json>(template.Resources).map((r) => r.Type)
    expect(types).not.toContain('AWS::CloudFront::Distribution')
    expect(types).not.toContain('Custom::CDKBucketDeployment')
    expect(Object.keys(template.Outputs)).not.toContain('SiteUrl')
    expect(Object.keys(template.Outputs)).toContain('ApiUrl')
  })

  it('ships every app function as an ESM bundle with its source map', () => {
    const handlers = new Set(Object.values(entries))
    const bundled = Object.values<Json>(template.Resources).filter(
      (r) => r.Type === 'AWS::Lambda::Function' && handlers.has(r.Properties.Description),
    )
    expect(bundled).toHaveLength(handlers.size)
    for (const fn of bundled) {
      expect(fn.Properties.Handler).toBe('index.handler')
      const assetDir = join(outdir, fn.Metadata['aws:asset:path'])
      expect(existsSync(join(assetDir, 'index.mjs.map'))).toBe(true)
    }
  })

  it('puts the require banner at the top of each bundle', async () => {
    const fn = Object.values<Json>(template.Resources).find((r) => r.Properties?.Description === 'functions/hash-file.ts')
    const code = await readFile(join(outdir, fn.Metadata['aws:asset:path'], 'index.mjs'), 'utf8')
    expect(code.startsWith(BUNDLE.banner)).toBe(true)
  })
})
