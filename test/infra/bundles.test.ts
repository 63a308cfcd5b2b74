import { execFile, execFileSync } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUNDLE } from '../../lib/constructs/app-function.js'
import { entries } from './synth.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** A Node binary of the Lambda runtime's major (scripts/lambda-node.sh installs the pinned one). */
const LAMBDA_NODE = execFileSync('bash', [join(ROOT, 'scripts/lambda-node.sh')], { encoding: 'utf8' }).trim()
/** Comfortably above today's bundles (about 1.5 MB); a jump past it means a heavy dependency slipped in. */
const MAX_BUNDLE_BYTES = 4 * 1024 ** 2

/** Just what `functions/core/config.ts` requires on AWS; loading a handler must not connect to any of it. */
const LAMBDA_ENV = {
  AWS_REGION: 'us-east-1',
  FILES_BUCKET_NAME: 'files-bucket',
  FILES_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/files',
  DATABASE_URL: 'postgres://uploads_admin@proxy.example.internal:5432/uploads?sslmode=verify-full',
  DATABASE_IAM_AUTH: 'true',
  REDIS_URL: 'rediss://cache.example.internal:6379',
  REDIS_TLS: 'true',
  NODE_OPTIONS: '--enable-source-maps',
}

let outdir: string
const sizes: Record<string, { bundle: number; map: number }> = {}

beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), 'bundles-'))
})
afterAll(async () => {
  const rows = Object.entries(sizes).map(([id, s]) => `${id.padEnd(16)} ${kb(s.bundle).padStart(10)} ${kb(s.map).padStart(10)}`)
  console.info(['handler bundle sizes      bundle        map', ...rows].join('\n'))
  await rm(outdir, { recursive: true, force: true })
})
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} kB`

describe.each(Object.entries(entries))('the %s bundle', (id, entry) => {
  const outfile = () => join(outdir, id, 'index.mjs')

  // The same esbuild options AppFunction gives NodejsFunction (format ESM, no externals).
  it('builds as one ESM file with a source map', async () => {
    await build({
      entryPoints: [join(ROOT, entry)],
      outfile: outfile(),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: BUNDLE.target,
      mainFields: [...BUNDLE.mainFields],
      banner: { js: BUNDLE.banner },
      minify: BUNDLE.minify,
      keepNames: BUNDLE.keepNames,
      sourcemap: true,
      sourcesContent: BUNDLE.sourcesContent,
      external: [],
      logLevel: 'silent',
    })
    sizes[id] = { bundle: (await stat(outfile())).size, map: (await stat(`${outfile()}.map`)).size }
    expect(sizes[id].bundle).toBeLessThan(MAX_BUNDLE_BYTES)
  })

  it('loads under the Lambda runtime Node major and exports a handler', async () => {
    // An ES module, as the runtime loads index.mjs: a CommonJS `-e` script would define a global `require` and
    // hide a bundle that calls it without the banner.
    const probe = `const m = await import(${JSON.stringify(outfile())}); console.log(process.version, typeof m.handler); process.exit(0)`
    const { stdout } = await promisify(execFile)(LAMBDA_NODE, ['--input-type=module', '-e', probe], {
      env: LAMBDA_ENV,
      timeout: 30_000,
    })
    expect(stdout.trim()).toMatch(/^v24\.\d+\.\d+ function$/)
  })
})
