/**
 * Peak memory of the hash stage from 64 MiB to 4 GiB: each object is hashed by the product's own invocation
 * (syncFile on the ranged, checkpointed path, default window and checkpoint interval) in a fresh process,
 * test/integration/workers/hash-peak-rss.ts, which reports its own VmHWM before the read and at its end.
 * The CI-sized version is test/integration/hash-memory.test.ts (64 MiB and 512 MiB).
 */
import { execFile } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { S3Client } from '@aws-sdk/client-s3'
import type { Kysely } from 'kysely'
import type { Config } from '../functions/core/config.js'
import type { Database } from '../functions/core/database.js'
import { createObjectStore } from '../functions/core/storage.js'
import { HASH_WINDOWS_PER_READ } from '../lib/settings.js'
import { benchBlock } from './block.js'
import { ensureObject } from './hashing.js'
import { fmt, MiB, table, verdict, type Section } from './stats.js'

const run = promisify(execFile)
/** Objects the other sections do not reuse are deleted after their run: a 4 GiB one should not stay in LocalStack. */
const KEEP_UP_TO_MIB = 1024

export interface HashMemoryOptions {
  root: string
  config: Config
  s3: S3Client
  db: Kysely<Database>
  sizesMiB: readonly number[]
  log: (line: string) => void
}

export async function benchHashMemory(options: HashMemoryOptions): Promise<Section & { ok: boolean }> {
  const { root, config, s3, db, sizesMiB, log } = options
  const block = benchBlock(16 * MiB)
  const window = config.hashRangeBytes * config.hashReadConcurrency
  // The same allowance as the CI test: the read's windows, V8's external-memory soft limit and its young generation.
  const bound = HASH_WINDOWS_PER_READ * window + 64 * MiB + 32 * MiB
  const rows: string[][] = []
  const growths: number[] = []
  for (const sizeMiB of sizesMiB) {
    const size = sizeMiB * MiB
    const key = await ensureObject(s3, config.bucketName, sizeMiB, block)
    const expected = createHash('sha256')
    for (let at = 0; at < size; at += block.length) expected.update(block.subarray(0, Math.min(block.length, size - at)))
    const id = randomUUID()
    await db
      .insertInto('files')
      .values({
        id,
        owner_id: 'bench-hash-memory',
        external_id: 'bench-hash-memory',
        filename: 'large.bin',
        content_type: 'application/octet-stream',
        object_key: key,
        status: 'UPLOADED',
        file_size: size,
        upload_expires_at: new Date(),
      })
      .execute()
    const started = performance.now()
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(root, 'test/integration/workers/hash-peak-rss.ts'), id], {
      cwd: root,
      env: { ...process.env, HASH_SINGLE_PASS_MAX_BYTES: '0', HASH_INVOCATION_BUDGET_MS: '', MALWARE_SCANNER: 'off' },
    })
    const seconds = (performance.now() - started) / 1000
    const figures = JSON.parse(stdout.trim().split('\n').pop()!) as { outcome: string; baselineRssBytes: number; peakRssBytes: number }
    const row = await db.selectFrom('files').select(['sha256', 'status']).where('id', '=', id).executeTakeFirstOrThrow()
    if (figures.outcome !== 'SYNCED' || row.sha256 !== expected.digest('hex')) throw new Error(`${sizeMiB} MiB: ${figures.outcome}, sha256 ${row.sha256}`)
    await db.deleteFrom('files').where('id', '=', id).execute()
    // Every version: the bucket is versioned, and a delete marker alone would leave the bytes on disk.
    if (sizeMiB > KEEP_UP_TO_MIB) await createObjectStore(s3, config.bucketName).erase(key)
    const growth = figures.peakRssBytes - figures.baselineRssBytes
    growths.push(growth)
    log(`hash-memory: ${sizeMiB} MiB hashed in ${fmt(seconds)} s, peak RSS ${fmt(figures.peakRssBytes / 1e6)} MB (+${fmt(growth / 1e6)} MB)`)
    rows.push([`${sizeMiB} MiB`, fmt(figures.baselineRssBytes / 1e6), `**${fmt(figures.peakRssBytes / 1e6)}**`, `**${fmt(growth / 1e6)}**`, fmt(size / MiB / seconds), 'SYNCED, SHA-256 equal'])
  }
  const ok = growths.every((g) => g < bound)
  const body = [
    table(['object', 'RSS before the read (MB)', 'peak RSS (MB)', 'growth (MB)', 'MiB/s (whole invocation)', 'result'], rows),
    '',
    `Each size hashed by one invocation of the product's hash stage in a fresh process (ranged reads of ${config.hashRangeBytes / MiB} MiB, ` +
      `${config.hashReadConcurrency} in flight: a ${window / MiB} MiB window; hash-wasm, a checkpoint every ${config.hashCheckpointBytes / MiB} MiB; scanning off). ` +
      `RSS is the process's VmHWM (getrusage's maxRSS would include the parent's peak, carried across fork and exec). ` +
      `Goal: growth below ${fmt(bound / 1e6)} MB at every size (${HASH_WINDOWS_PER_READ} windows + V8's 64 MiB external-memory soft limit + its 32 MiB young generation) — ${verdict(ok)}.`,
  ].join('\n')
  return { title: 'Hash stage memory: 64 MiB to 4 GiB', body, ok }
}
