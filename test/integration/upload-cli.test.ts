import { execFile } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { LocalRuntime } from '../../bin/local/runtime.js'
import { ApiClient, resetState, root, sha256, startRuntime, tokenFor } from '../fixtures/pipeline.js'

let runtime: LocalRuntime
let dir: string
let token: string
let api: ApiClient

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs the CLI as a user would, in a child process, against the in-process runtime. */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(root, 'bin/upload.ts'), ...args],
      {
        cwd: root,
        env: { ...process.env, UPLOAD_API_URL: runtime.url, UPLOAD_TOKEN: token, ...env },
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

async function fileAt(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, bytes)
  return path
}

beforeAll(async () => {
  runtime = await startRuntime()
  dir = await mkdtemp(join(tmpdir(), 'upload-cli-'))
  // An owner of its own, so the listings below hold only this file's uploads.
  token = await tokenFor(`cli-${randomUUID()}`)
  api = new ApiClient(runtime.url, token)
})
afterAll(async () => {
  await runtime.close()
  await rm(dir, { recursive: true, force: true })
})
beforeEach(resetState)

describe('npm run upload', () => {
  it('uploads, confirms and verifies each file, printing sha256sum lines in the order given', async () => {
    const csv = Buffer.from('id,name\n1,ada\n')
    // Larger than the inline cap: served as a download, hashed by streaming.
    const big = randomBytes(3 * 1024 * 1024 + 17)
    const csvPath = await fileAt('people.csv', csv)
    const bigPath = await fileAt('big.bin', big)

    const run = await cli([csvPath, bigPath, '--external-id', 'cli-batch'])

    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe(`${sha256(csv)}  ${csvPath}\n${sha256(big)}  ${bigPath}\n`)
    expect(run.stderr).toContain(`${bigPath}: uploaded 100% of 3.0 MB`)
    const listed = await api.list({ external_id: 'cli-batch' })
    expect(listed.json.files.map((f: { filename: string; status: string; sha256: string; file_size: number }) => [f.filename, f.status, f.sha256, f.file_size]).sort()).toEqual([
      ['big.bin', 'SYNCED', sha256(big), big.length],
      ['people.csv', 'SYNCED', sha256(csv), csv.length],
    ])
  })

  it('reports a refused file, still uploads the others, and exits 1', async () => {
    const good = Buffer.from('ok\n')
    const goodPath = await fileAt('good.txt', good)
    const emptyPath = await fileAt('empty.csv', Buffer.alloc(0))

    const run = await cli([emptyPath, goodPath, '--quiet'])

    expect(run.code, run.stderr).toBe(1)
    expect(run.stdout, run.stderr).toBe(`${sha256(good)}  ${goodPath}\n`)
    expect(run.stderr).toMatch(new RegExp(`^upload: ${emptyPath}: Invalid body: body\\.file_size .+ \\(VALIDATION_FAILED\\)\\n$`))
  })

  it('exits 2 for usage errors and a rejected token, before uploading anything', async () => {
    const path = await fileAt('a.csv', Buffer.from('a\n'))
    const cases: [string[], Record<string, string | undefined>, string][] = [
      [[], {}, 'upload: no files given\n'],
      [[path, '--bogus'], {}, "upload: Unknown option '--bogus'"],
      [[path], { UPLOAD_TOKEN: undefined }, 'upload: no token: pass --token or set UPLOAD_TOKEN'],
      [[path, '--token', 'not.a.token'], {}, 'upload: the service rejected the token (UNAUTHORIZED)'],
      [[join(dir, 'missing.csv')], {}, `upload: cannot read ${join(dir, 'missing.csv')}: ENOENT`],
      [[path, '--api', 'ftp://example'], {}, 'upload: --api must be an http(s) URL'],
    ]
    for (const [args, env, message] of cases) {
      const run = await cli(args, env)
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2)
      expect(run.stderr.startsWith(message), run.stderr).toBe(true)
      expect(run.stdout).toBe('')
    }
    expect((await api.list()).json.files).toEqual([])
  })

  it('exits 3 when the service cannot be reached', async () => {
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number }
        server.close(() => resolve(port))
      })
    })
    const path = await fileAt('b.csv', Buffer.from('b\n'))
    const run = await cli([path, '--api', `http://127.0.0.1:${closed}`])
    expect(run.code).toBe(3)
    expect(run.stderr).toBe(`upload: cannot reach the service at http://127.0.0.1:${closed} (ECONNREFUSED)\n`)
  })

  it('prints usage with --help', async () => {
    const run = await cli(['--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^usage: npm run -s upload -- <files…> \[options\]/)
  })
})
