import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LocalRuntime } from '../../bin/local/runtime.js'
import { webFallback } from '../../bin/local/web.js'
import { ApiClient, root, startRuntime, tokenFor } from '../fixtures/pipeline.js'

const run = promisify(execFile)

// The tools the field checks an API with, run from outside as a user would: the pinned venv of
// scripts/api-tools.sh (installed on first use, like LocalStack's).
let bin: string
let runtime: LocalRuntime
let token: string

beforeAll(async () => {
  const installed = await run('bash', [join(root, 'scripts/api-tools.sh')], { timeout: 600_000 })
  bin = installed.stdout.trim()
  runtime = await startRuntime({ fallback: webFallback({ root, storageOrigin: process.env.AWS_ENDPOINT_URL! }) })
  token = await tokenFor(`schemathesis-${randomUUID()}`)
}, 660_000)
afterAll(async () => {
  await runtime?.close()
})

describe('the OpenAPI document, checked by the field\'s own tools', () => {
  it('validates with openapi-spec-validator', async () => {
    const file = join(tmpdir(), `openapi-${randomUUID()}.json`)
    await writeFile(file, await (await fetch(`${runtime.url}/openapi.json`)).text())
    const { stdout } = await run(join(bin, 'openapi-spec-validator'), [file])
    expect(stdout).toContain(': OK')
  })

  it('passes every Schemathesis check, stateful phase included, against the running API', async () => {
    const args = [
      '--config-file', join(root, 'test/integration/schemathesis.toml'),
      'run', `${runtime.url}/openapi.json`,
      '--url', runtime.url,
      '--checks', 'all',
      // A webhook URL the document can only describe as a URL must also resolve to a public address, which no
      // generated host does on a machine without DNS: those refusals are the SSRF defence (webhooks.test.ts).
      '--exclude-path-regex', '^/webhooks',
      '--header', `Authorization: Bearer ${token}`,
      '--max-examples', '25',
      // A fixed seed: a failure is reproducible with the same command.
      '--seed', '20261201',
      '--no-color',
    ]
    // cwd: Schemathesis keeps a cache folder where it runs, which does not belong in the checkout.
    const result = await run(join(bin, 'st'), args, { cwd: tmpdir(), timeout: 600_000, maxBuffer: 64 * 1024 * 1024 }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code?: number; stdout?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '' }),
    )
    expect(result.code, result.stdout.slice(-8000)).toBe(0)
    expect(result.stdout).toMatch(/Stateful/)
    expect(result.stdout).not.toMatch(/Unsupported regex/)
  }, 600_000)
})

describe('what Schemathesis found, pinned', () => {
  it('lists every file for an empty external_id, as the document allows', async () => {
    const api = new ApiClient(runtime.url, token)
    const presigned = await api.presign({ filename: 'a.csv', external_id: 'x' })
    expect(presigned.status).toBe(201)
    const all = await api.list()
    const blank = await api.list({ external_id: '' })
    expect(blank.status).toBe(200)
    expect(blank.json.files.map((f: { id: string }) => f.id)).toEqual(all.json.files.map((f: { id: string }) => f.id))
    expect(blank.json.files.map((f: { id: string }) => f.id)).toContain(presigned.json.file_id)
  })

  it('answers a method a path does not serve with 405 and the methods it does in Allow', async () => {
    const res = await fetch(`${runtime.url}/files/presigned-upload`, { method: 'PUT', headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('POST')
  })

  it('takes any cursor the document allows as a position in the listing', async () => {
    const api = new ApiClient(runtime.url, token)
    const res = await api.list({ cursor: `0.${randomUUID()}` })
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ files: [], next_cursor: null })
  })
})
