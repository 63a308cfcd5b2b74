import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { lambdaContext } from '../../bin/local/events.js'
import { deps } from '../../functions/core/deps.js'
import { HASHER_TAG, resumeHash } from '../../functions/core/hashing.js'
import { handler as hashFile } from '../../functions/hash-file.js'
import { queueConsumers } from '../../lib/routes.js'
import { functionSettings } from '../../lib/settings.js'
import { bytesRead, tapReads } from '../fixtures/counting-store.js'
import { sqsEvent } from '../fixtures/events.js'
import { root, sha256, usePipeline } from '../fixtures/pipeline.js'

// Read before deps() is first built (this file's module registry is its own): small ranges, a checkpoint
// every 512 KiB and a 1 ms budget, so every invocation hashes one range and hands the file on.
const RANGE = 256 * 1024
const CHECKPOINT = 512 * 1024
Object.assign(process.env, {
  HASH_RANGE_BYTES: String(RANGE),
  HASH_READ_CONCURRENCY: '2',
  HASH_CHECKPOINT_BYTES: String(CHECKPOINT),
  HASH_INVOCATION_BUDGET_MS: '1',
  // A streaming malware scan keeps a file in one invocation (no hand-off), which is what these tests force.
  MALWARE_SCANNER: 'off',
  // Every object here takes the checkpointed hasher.
  HASH_SINGLE_PASS_MAX_BYTES: '0',
})

// No pollers: the tests deliver each message themselves, so they can count, duplicate and kill.
const pipeline = usePipeline({ pollers: 0 })
const api = pipeline.client('alice')
const tap = tapReads(deps().storage)
beforeEach(() => void tap.reads.splice(0))
afterAll(() => tap.restore())

const SIZE = 6 * RANGE + 12_345

async function deliver(fileId: string) {
  const body = JSON.stringify({ event: 'file.uploaded', file_id: fileId, outbox_id: '1' })
  return hashFile(sqsEvent([{ body }]), lambdaContext('HashFile', functionSettings(queueConsumers[0])))
}

async function row(fileId: string) {
  return deps().db.selectFrom('files').selectAll().where('id', '=', fileId).executeTakeFirstOrThrow()
}

async function confirmed(bytes: Buffer, beforeConfirm?: (fileId: string) => Promise<void>) {
  const { post } = await api.upload(bytes, { filename: 'big.bin', content_type: 'application/octet-stream' })
  await beforeConfirm?.(post.file_id)
  expect((await api.confirm({ file_id: post.file_id, file_size: bytes.length })).status).toBe(200)
  const { object_key } = await row(post.file_id)
  return { fileId: post.file_id, key: object_key }
}

/** Delivers until the file is final; returns the number of invocations and the progress GET showed between them. */
async function hashToTheEnd(fileId: string) {
  const progress: number[] = []
  for (let invocations = 1; invocations <= 100; invocations++) {
    await deliver(fileId)
    const view = (await api.getFile(fileId)).json.file
    if (view.status !== 'SYNCING') return { invocations, progress, view }
    progress.push(view.hashed_bytes)
  }
  throw new Error('not final after 100 invocations')
}

const sha256sum = (bytes: Buffer): string => {
  const path = join(mkdtempSync(join(tmpdir(), 'hash-resume-')), 'object')
  writeFileSync(path, bytes)
  return spawnSync('sha256sum', [path], { encoding: 'utf8' }).stdout.split(' ')[0]!
}

describe('hashing across invocations', () => {
  it('hashes an object over at least four forced invocations to what sha256sum gives, showing hashed_bytes', async () => {
    const bytes = randomBytes(SIZE)
    const { fileId } = await confirmed(bytes)
    const { invocations, progress, view } = await hashToTheEnd(fileId)

    expect(invocations).toBeGreaterThanOrEqual(4)
    expect(view).toMatchObject({ status: 'SYNCED', sha256: sha256sum(bytes), file_size: SIZE })
    expect(view).not.toHaveProperty('hashed_bytes')
    expect(progress.length).toBe(invocations - 1)
    expect(progress[0]).toBeGreaterThan(0)
    expect(progress).toEqual([...progress].sort((a, b) => a - b))
    expect(new Set(progress).size).toBe(progress.length)
    expect((await row(fileId)).hash_state).toBeNull()
  })

  it('shows hashed_bytes in listings while SYNCING', async () => {
    const { fileId } = await confirmed(randomBytes(SIZE))
    await deliver(fileId)
    const listed = (await api.list()).json.files.find((f: { id: string }) => f.id === fileId)
    // The 1 ms budget hands the file on after its first chunk: the listing shows what the row holds.
    const { hashed_bytes } = await row(fileId)
    expect(Number(hashed_bytes)).toBeGreaterThan(0)
    expect(Number(hashed_bytes)).toBeLessThan(SIZE)
    expect(listed).toMatchObject({ status: 'SYNCING', hashed_bytes: Number(hashed_bytes) })
  })

  it('hashes the object once when every continuation is delivered twice at the same time', async () => {
    const bytes = randomBytes(SIZE)
    const { fileId, key } = await confirmed(bytes)
    for (let round = 0; round < 100 && (await row(fileId)).status !== 'SYNCED'; round++) {
      const results = await Promise.all([deliver(fileId), deliver(fileId)])
      // At most one of the pair holds the claim; the other is told to come back later.
      expect(results.filter((r) => r.batchItemFailures.length === 0).length).toBeGreaterThanOrEqual(1)
    }
    expect(await row(fileId)).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes) })
    const reads = tap.reads.filter((r) => r.key === key)
    expect(reads.filter((r) => r.start === 0)).toHaveLength(1)
    // Every invocation that held the claim hashed from the last checkpoint and at most dropped its window.
    const { sync_attempts } = await row(fileId)
    expect(bytesRead(reads, key)).toBeLessThanOrEqual(SIZE + sync_attempts * 2 * RANGE)
  })

  it.each([
    ['a corrupted checkpoint', async (state: Buffer) => ({ hash_state: Buffer.from(state.map((b, i) => (i === 40 ? b ^ 1 : b))), hash_state_tag: HASHER_TAG })],
    ['a checkpoint from another hasher build', async (state: Buffer) => ({ hash_state: state, hash_state_tag: 'hash-wasm@4.12.0/sha256' })],
    ['a checkpoint the hasher cannot load', async () => ({ hash_state: Buffer.alloc(40, 7), hash_state_tag: HASHER_TAG })],
  ])('discards %s and hashes from byte 0', async (_, checkpoint) => {
    const bytes = randomBytes(SIZE)
    // A genuine state over other bytes: used instead of discarded, it would give a wrong SHA-256.
    const { hash } = await resumeHash(undefined)
    hash.update(randomBytes(RANGE))
    const planted = await checkpoint(hash.save())
    const { fileId, key } = await confirmed(bytes, async (id) => {
      await deps().db.updateTable('files').set({ ...planted, hashed_bytes: RANGE }).where('id', '=', id).execute()
    })
    const { view } = await hashToTheEnd(fileId)
    expect(view).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes) })
    expect(tap.reads.some((r) => r.key === key && r.start === 0)).toBe(true)
  })

  it('resumes from the last checkpoint after the worker is SIGKILLed between checkpoints', async () => {
    const bytes = randomBytes(4 * 1024 * 1024)
    const { fileId, key } = await confirmed(bytes)
    const worker = spawn(process.execPath, ['--import', 'tsx', 'test/integration/workers/slow-hash.ts', fileId], {
      cwd: root,
      env: { ...process.env, HASH_INVOCATION_BUDGET_MS: '', DELAY_PER_CHUNK_MS: '15' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let delivered = 0
    worker.stdout.setEncoding('utf8').on('data', (text: string) => {
      const last = text.trim().split('\n').pop()
      if (last) delivered = Math.max(delivered, Number(last))
    })
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    let checkpointed = 0
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(10)) {
      checkpointed = Number((await row(fileId)).hashed_bytes)
      // Killed between checkpoints: past the first, with bytes read beyond it.
      if (checkpointed >= CHECKPOINT && delivered > checkpointed) break
    }
    worker.kill('SIGKILL')
    await exited
    expect(checkpointed).toBeGreaterThanOrEqual(CHECKPOINT)
    const atKill = await row(fileId)
    expect(atKill.status).toBe('SYNCING')
    expect(Number(atKill.hashed_bytes)).toBeLessThan(bytes.length)

    // The dead worker's claim goes stale (STALE_CLAIM_SECONDS in the test environment), then it is retaken.
    await sleep((deps().config.staleClaimSeconds + 1) * 1000)
    const { view } = await hashToTheEnd(fileId)
    expect(view).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes) })
    const reads = tap.reads.filter((r) => r.key === key)
    expect(Math.min(...reads.map((r) => r.start))).toBe(Number(atKill.hashed_bytes))
    // What the dead worker had read past its last checkpoint is read again: at most one interval plus the window.
    expect(delivered).toBeGreaterThan(Number(atKill.hashed_bytes))
    expect(delivered - Number(atKill.hashed_bytes)).toBeLessThanOrEqual(CHECKPOINT + 2 * RANGE)
  })
})
