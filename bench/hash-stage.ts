/**
 * The hash stage's read and hash loop (functions/core/sync.ts) against its limits, each beside a baseline
 * measured in the same run:
 * - in-memory SHA-256: hash-wasm (the checkpointable hasher) beside node:crypto;
 * - reads through a throttling TCP proxy in front of LocalStack that caps every connection (as S3 does):
 *   one stream beside N ranges, as a ratio to min(hasher rate, N × cap);
 * - checkpointing (save, seal and a Postgres round trip every interval) beside none;
 * - type sniffing on beside off.
 */
import { createHash } from 'node:crypto'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import type { S3Client } from '@aws-sdk/client-s3'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../functions/core/database.js'
import { resumeHash, singlePassHash } from '../functions/core/hashing.js'
import { InspectionRun } from '../functions/core/inspection.js'
import { readInOrder } from '../functions/core/ranged-read.js'
import { sniffContentType } from '../functions/core/sniff.js'
import type { FileRecord } from '../functions/core/files.js'
import { createObjectStore, createS3Client } from '../functions/core/storage.js'
import type { Config } from '../functions/core/config.js'
import { benchBlock } from './block.js'
import { ensureObject } from './hashing.js'
import { fmt, MiB, table, verdict, type Section } from './stats.js'

export interface HashStageOptions {
  config: Config
  s3: S3Client
  db: Kysely<Database>
  sizeMiB: number
  capMiBps: number
  ranges: number
  log: (line: string) => void
}

const RANGE_GOAL = 0.85
const CHECKPOINT_GOAL = 0.03
const SNIFF_GOAL = 0.97

/** A TCP proxy that lets each connection receive at most `bytesPerSecond` (requests go up unthrottled). */
async function throttlingProxy(target: URL, bytesPerSecond: number): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) })
    sockets.add(client).add(upstream)
    const started = Date.now()
    let sent = 0
    upstream.on('data', (chunk: Buffer) => {
      sent += chunk.length
      client.write(chunk)
      const wait = started + (sent / bytesPerSecond) * 1000 - Date.now()
      if (wait > 0) {
        upstream.pause()
        setTimeout(() => upstream.resume(), wait)
      }
    })
    client.pipe(upstream)
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

const rate = (bytes: number, ms: number) => bytes / MiB / (ms / 1000)

export async function benchHashStage(options: HashStageOptions): Promise<Section & { ok: boolean }> {
  const { config, s3, db, sizeMiB, capMiBps, ranges, log } = options
  const size = sizeMiB * MiB
  const block = benchBlock(16 * MiB)

  // In-memory rates over the same bytes.
  const inMemory = async (update: (chunk: Buffer) => void) => {
    const started = performance.now()
    for (let done = 0; done < size; done += block.length) update(block.subarray(0, Math.min(block.length, size - done)))
    return rate(size, performance.now() - started)
  }
  const node = createHash('sha256')
  const nodeRate = await inMemory((c) => node.update(c))
  const wasm = (await resumeHash(undefined)).hash
  const wasmRate = await inMemory((c) => wasm.update(c))
  log(`hash-stage: in memory hash-wasm ${fmt(wasmRate)} MiB/s, node:crypto ${fmt(nodeRate)} MiB/s`)

  const key = await ensureObject(s3, config.bucketName, sizeMiB, block)
  const object = { key, versionId: null, size }

  /** The stage's loop: ordered read, hash, optional inspectors and checkpoints. */
  const stage = async (
    store: ReturnType<typeof createObjectStore>,
    window: { rangeBytes: number; concurrency: number },
    extra: { sniff?: boolean; checkpointBytes?: number; hasher?: 'wasm' | 'node' } = {},
  ) => {
    const hash = extra.hasher === 'wasm' ? (await resumeHash(undefined)).hash : singlePassHash()
    const inspection = new InspectionRun(extra.sniff ? [sniffContentType({ contentType: 'application/octet-stream' } as FileRecord)!] : [])
    let checkpointed = 0
    let checkpoints = 0
    const started = performance.now()
    for await (const chunk of readInOrder(store, object, 0, window)) {
      hash.update(chunk)
      await inspection.update(chunk)
      if (extra.checkpointBytes && hash.offset - checkpointed >= extra.checkpointBytes) {
        const sealed = hash.save()
        await sql`select ${sealed}::bytea, ${hash.offset}::bigint`.execute(db)
        checkpointed = hash.offset
        checkpoints += 1
      }
    }
    await inspection.end()
    hash.digest()
    return { mibps: rate(size, performance.now() - started), checkpoints }
  }

  const proxy = await throttlingProxy(new URL(config.awsEndpointUrl ?? 'http://127.0.0.1:4566'), capMiBps * MiB)
  const throttledClient = createS3Client({ ...config, awsEndpointUrl: proxy.url })
  const throttled = createObjectStore(throttledClient, config.bucketName)
  const direct = createObjectStore(s3, config.bucketName)
  try {
    const window = { rangeBytes: config.hashRangeBytes, concurrency: ranges }
    const single = await stage(throttled, { rangeBytes: size, concurrency: 1 })
    log(`hash-stage: one stream through the ${capMiBps} MiB/s proxy: ${fmt(single.mibps)} MiB/s`)
    const parallel = await stage(throttled, window)
    log(`hash-stage: ${ranges} ranges through the proxy: ${fmt(parallel.mibps)} MiB/s`)
    const plain = await stage(direct, window)
    const sniffed = await stage(direct, window, { sniff: true })
    const wasmPlain = await stage(direct, window, { hasher: 'wasm' })
    const checkpointed = await stage(direct, window, { hasher: 'wasm', checkpointBytes: config.hashCheckpointBytes })
    log(`hash-stage: direct ${fmt(plain.mibps)} MiB/s, sniffed ${fmt(sniffed.mibps)}, hash-wasm ${fmt(wasmPlain.mibps)}, checkpointed ${fmt(checkpointed.mibps)}`)

    // The single-pass hasher (node:crypto) reads objects up to HASH_SINGLE_PASS_MAX_BYTES; the bound is its rate.
    const bound = (n: number) => Math.min(nodeRate, n * capMiBps)
    const singleRatio = single.mibps / bound(1)
    const parallelRatio = parallel.mibps / bound(ranges)
    const overhead = 1 - checkpointed.mibps / wasmPlain.mibps
    const sniffRatio = sniffed.mibps / plain.mibps
    const ok = parallelRatio >= RANGE_GOAL && overhead <= CHECKPOINT_GOAL && sniffRatio >= SNIFF_GOAL
    const body = [
      `${sizeMiB} MiB object; ranges of ${config.hashRangeBytes / MiB} MiB; checkpoint every ${config.hashCheckpointBytes / MiB} MiB.`,
      'Rows without "hash-wasm" use node:crypto, the hasher of objects up to HASH_SINGLE_PASS_MAX_BYTES (1 GiB).',
      '',
      table(['measure', 'MiB/s', 'baseline', 'ratio', 'goal'], [
        ['hash-wasm in memory', fmt(wasmRate), `node:crypto ${fmt(nodeRate)}`, fmt(wasmRate / nodeRate, 2), '-'],
        [`1 stream, ${capMiBps} MiB/s cap`, fmt(single.mibps), `min(hasher, 1 × cap) = ${fmt(bound(1))}`, fmt(singleRatio, 2), '-'],
        [`${ranges} ranges, ${capMiBps} MiB/s cap each`, fmt(parallel.mibps), `min(hasher, ${ranges} × cap) = ${fmt(bound(ranges))}`, fmt(parallelRatio, 2), `≥ ${RANGE_GOAL} ${verdict(parallelRatio >= RANGE_GOAL)}`],
        [`hash-wasm, checkpointed (${checkpointed.checkpoints} saves)`, fmt(checkpointed.mibps), `hash-wasm, none ${fmt(wasmPlain.mibps)}`, `${fmt(overhead * 100)} % overhead`, `≤ ${CHECKPOINT_GOAL * 100} % ${verdict(overhead <= CHECKPOINT_GOAL)}`],
        ['type sniffing on', fmt(sniffed.mibps), `off ${fmt(plain.mibps)}`, fmt(sniffRatio, 2), `≥ ${SNIFF_GOAL} ${verdict(sniffRatio >= SNIFF_GOAL)}`],
      ]),
      '',
      'Direct rows read LocalStack on this machine without the proxy; on a loaded 2-core machine the hasher, the',
      'proxy and LocalStack share the CPU, so the throttled ratios are a floor.',
    ].join('\n')
    return { title: 'Hash stage: ranged reads, checkpoints, sniffing', body, ok }
  } finally {
    throttledClient.destroy()
    await proxy.close()
  }
}
