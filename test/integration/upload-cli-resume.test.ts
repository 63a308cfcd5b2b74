import { execFile, spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { LocalRuntime } from '../../bin/local/runtime.js'
import { ApiClient, resetState, root, sha256, startRuntime, tokenFor } from '../fixtures/pipeline.js'

// These files are past clamd's stream limit, where scanning would quarantine them NOT_SCANNED
// (test/integration/scanning/clamav-pipeline.test.ts). This file is about the upload protocol. Read before the first deps().
process.env.MALWARE_SCANNER = 'off'

const MiB = 1024 ** 2
let runtime: LocalRuntime
let dir: string
let cacheDir: string
let token: string
let api: ApiClient

const cliArgs = (path: string) => ['--import', 'tsx', join(root, 'bin/upload.ts'), path, '--multipart', '--parallel', '1', '--external-id', 'resume']
const cliEnv = () => ({ ...process.env, UPLOAD_API_URL: runtime.url, UPLOAD_TOKEN: token, UPLOAD_CACHE_DIR: cacheDir })

function cli(path: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(path), { cwd: root, env: cliEnv(), timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr })
    })
  })
}

/** The file id the CLI recorded in its resume state, once it has. */
async function recordedFileId(): Promise<string | undefined> {
  const names = (await readdir(cacheDir).catch(() => [])).filter((n) => n.endsWith('.json'))
  if (names.length === 0) return undefined
  return (JSON.parse(await readFile(join(cacheDir, names[0]!), 'utf8')) as { fileId: string }).fileId
}

/** Starts the CLI and SIGKILLs it once `ready` holds: no handler runs, as after a crash or `kill -9`. */
async function runUntilKilled(path: string, ready: (fileId: string) => Promise<boolean>): Promise<string> {
  const child = spawn(process.execPath, cliArgs(path), { cwd: root, env: cliEnv(), stdio: 'ignore' })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  try {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(20)) {
      const fileId = await recordedFileId()
      if (fileId && (await ready(fileId))) return fileId
    }
    throw new Error('the CLI never reached the point to interrupt it at')
  } finally {
    child.kill('SIGKILL')
    await exited
  }
}

const storedParts = async (fileId: string): Promise<number> => {
  const res = await api.request('GET', `/files/${fileId}/parts`)
  return res.status === 200 ? res.json.parts.length : 0
}

beforeAll(async () => {
  runtime = await startRuntime()
  dir = await mkdtemp(join(tmpdir(), 'upload-resume-'))
  token = await tokenFor(`cli-${randomUUID()}`)
  api = new ApiClient(runtime.url, token)
})
afterAll(async () => {
  await runtime.close()
  await rm(dir, { recursive: true, force: true })
})
beforeEach(async () => {
  await resetState()
  cacheDir = await mkdtemp(join(tmpdir(), 'upload-resume-cache-'))
})

describe('npm run upload of a large file', () => {
  it('resumes after being killed: the parts already stored are not sent again and no second file is created', async () => {
    // 12 parts of 8 MiB, sent one at a time so the kill lands mid-upload.
    const bytes = randomBytes(12 * 8 * MiB - 3)
    const path = join(dir, 'large.bin')
    await writeFile(path, bytes)

    const fileId = await runUntilKilled(path, async (id) => (await storedParts(id)) >= 2)
    const before = await storedParts(fileId)
    expect(before).toBeLessThan(12)

    const run = await cli(path)
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe(`${sha256(bytes)}  ${path}\n`)
    expect(run.stderr).toContain(`resuming file ${fileId} (PENDING)`)
    const resumed = Number(/(\d+) of 12 parts were already stored/.exec(run.stderr)?.[1])
    expect(resumed).toBeGreaterThanOrEqual(before)
    expect(run.stderr).toContain(`sent ${12 - resumed}`)

    const listed = await api.list({ external_id: 'resume' })
    expect(listed.json.files.map((f: { id: string; status: string; sha256: string }) => [f.id, f.status, f.sha256])).toEqual([
      [fileId, 'SYNCED', sha256(bytes)],
    ])
    // Done: the resume state is gone, so a later run uploads afresh.
    expect(await recordedFileId()).toBeUndefined()
  })

  it('starts over when the file changed since the interrupted run', async () => {
    const bytes = randomBytes(3 * 8 * MiB)
    const path = join(dir, 'changing.bin')
    await writeFile(path, bytes)
    const first = await runUntilKilled(path, async () => true)
    await appendFile(path, Buffer.from('more'))

    const run = await cli(path)
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).not.toContain('resuming')
    expect(run.stdout).toBe(`${sha256(Buffer.concat([bytes, Buffer.from('more')]))}  ${path}\n`)
    const synced = (await api.list({ external_id: 'resume' })).json.files.filter((f: { status: string }) => f.status === 'SYNCED')
    expect(synced).toHaveLength(1)
    expect(synced[0].id).not.toBe(first)
  })
})
