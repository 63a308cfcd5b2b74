import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { blobSource, uploadParts, UploadClient } from '../../client/src/index.js'
import { root, usePipeline } from '../fixtures/pipeline.js'

const run = promisify(execFile)
const MiB = 1024 ** 2

// The ranged, checkpointed path whatever the size, in one invocation (no budget), so every byte passes one
// process. Read before deps() is first built; the worker inherits them.
const RANGE = 4 * MiB
const CONCURRENCY = 4
const WINDOW = RANGE * CONCURRENCY
Object.assign(process.env, {
  HASH_SINGLE_PASS_MAX_BYTES: '0',
  HASH_RANGE_BYTES: String(RANGE),
  HASH_READ_CONCURRENCY: String(CONCURRENCY),
  HASH_CHECKPOINT_BYTES: String(16 * MiB),
  HASH_INVOCATION_BUDGET_MS: '',
  // clamd refuses streams this long (its StreamMaxLength); the scan is a separate concern from the hash's memory.
  MALWARE_SCANNER: 'off',
})

const pipeline = usePipeline({ pollers: 0 })
const api = pipeline.client('alice')

/** Incompressible bytes without paying for `size` bytes of randomness: a 1 MiB block, each copy stamped with its index. */
function content(size: number): Buffer {
  const block = createHash('sha512').update('hash-memory').digest()
  const bytes = Buffer.alloc(size)
  for (let at = 0; at < size; at += block.length) block.copy(bytes, at)
  for (let at = 0; at < size; at += MiB) bytes.writeUInt32BE(at / MiB, at)
  return bytes
}

/** Uploads `size` bytes as a client would (multipart), hashes them in a worker process, returns its RSS figures. */
async function hashInWorker(size: number) {
  const bytes = content(size)
  const presigned = await api.presign({ filename: 'big.bin', external_id: 'rss', content_type: 'application/octet-stream', file_size: size, multipart: true })
  expect(presigned.status, presigned.text).toBe(201)
  const fileId = presigned.json.file_id as string
  await uploadParts({ fileId, source: blobSource(new Blob([bytes])), api: new UploadClient({ baseUrl: pipeline.url, token: api.token! }), concurrency: 4 })
  expect((await api.confirm({ file_id: fileId, file_size: size })).status).toBe(200)
  const sha256 = createHash('sha256').update(bytes).digest('hex')

  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/integration/workers/hash-peak-rss.ts', fileId], { cwd: root, env: process.env })
  const figures = JSON.parse(stdout.trim().split('\n').pop()!) as { outcome: string; baselineRssBytes: number; peakRssBytes: number }
  expect(figures.outcome).toBe('SYNCED')
  expect((await api.getFile(fileId)).json.file).toMatchObject({ status: 'SYNCED', sha256, file_size: size })
  await api.deleteFile(fileId)
  return { ...figures, growth: figures.peakRssBytes - figures.baselineRssBytes }
}

/**
 * What the worker may add to its loaded baseline while it reads, whatever the object's size:
 * - the window itself (CONCURRENCY ranges of socket chunks, waiting for their turn), and as much again of
 *   chunks already hashed that the minor GC every 4 MiB has not yet freed;
 * - chunks that waited long enough to be promoted die in the old generation, which V8 collects once external
 *   memory has grown by its soft limit (64 MiB, `kExternalAllocationSoftLimit`) since the last full GC;
 * - V8's young generation (two 16 MiB semi-spaces on 64-bit).
 */
const BOUND = 2 * WINDOW + 64 * MiB + 32 * MiB

describe('hashing memory', () => {
  it('stays flat from 64 MiB to 512 MiB on the ranged, checkpointed path', async () => {
    const small = await hashInWorker(64 * MiB)
    const large = await hashInWorker(512 * MiB)
    // A cost per byte read would put the 512 MiB object far past the bound: keeping a quarter of it is 128 MiB.
    expect(small.growth).toBeLessThan(BOUND)
    expect(large.growth).toBeLessThan(BOUND)
    // The shorter read may end before V8's first full collection; past that, the two differ by GC timing alone.
    expect(large.growth - small.growth).toBeLessThan(64 * MiB)
  }, 180_000)
})
