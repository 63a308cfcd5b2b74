/**
 * 1. Hashing: the hash function's path (S3 GetObject stream -> digestStream) against draining the
 * same stream (the storage limit) and SHA-256 of the same bytes in memory (the CPU limit). Every
 * measurement runs in a fresh process so that peak RSS is per size and per mode.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import { build } from 'esbuild'
import { benchBlock } from './block.js'
import { fmt, MiB, ratio, table, verdict, type Section } from './stats.js'

const run = promisify(execFile)

/** Multipart part size and the period of the object's content. */
const BLOCK_BYTES = 16 * MiB
const CONTENT_VERSION = 'aes-ctr-16mib-v1'
const RSS_GOAL_MB = 160
const RATIO_GOAL = 0.9

interface Measurement {
  ms: number
  cpuMs: number
  bytes: number
  sha256: string
  maxRssBytes: number
}

export interface HashingOptions {
  root: string
  s3: S3Client
  bucket: string
  sizesMiB: readonly number[]
  reps: number
  log: (line: string) => void
}

const keyFor = (sizeMiB: number) => `bench/large/${sizeMiB}MiB-${CONTENT_VERSION}`

/** Uploads the object by multipart, one 16 MiB part in memory at a time, unless it is already there. */
export async function ensureObject(s3: S3Client, bucket: string, sizeMiB: number, block: Buffer): Promise<string> {
  const key = keyFor(sizeMiB)
  const size = sizeMiB * MiB
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
    if (head.ContentLength === size) return key
  } catch {
    // Missing: upload below.
  }
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: 'application/octet-stream' }))
  const parts: { ETag: string; PartNumber: number }[] = []
  for (let n = 1; (n - 1) * BLOCK_BYTES < size; n++) {
    const body = block.subarray(0, Math.min(BLOCK_BYTES, size - (n - 1) * BLOCK_BYTES))
    const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: body, ContentLength: body.length }))
    parts.push({ ETag: part.ETag!, PartNumber: n })
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }))
  return key
}

async function bundleChild(root: string): Promise<string> {
  const outfile = join(root, '.bench', 'hash-child.mjs')
  await build({
    entryPoints: [join(root, 'bench', 'hash-child.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'error',
  })
  return outfile
}

async function measure(child: string, job: { mode: string; key: string; size: number }): Promise<Measurement> {
  const { stdout } = await run(process.execPath, [child, JSON.stringify({ ...job, blockBytes: BLOCK_BYTES })], {
    env: process.env,
    maxBuffer: 1024 * 1024,
  })
  return JSON.parse(stdout) as Measurement
}

const mbps = (m: Measurement) => m.bytes / MiB / (m.ms / 1000)
/** The median run by throughput: the shared machine makes single runs noisy. */
const median = (ms: Measurement[]) => [...ms].sort((a, b) => mbps(a) - mbps(b))[Math.floor((ms.length - 1) / 2)]!
const peakRssMb = (ms: Measurement[]) => Math.max(...ms.map((m) => m.maxRssBytes)) / 1e6

export async function benchHashing(options: HashingOptions): Promise<Section & { ok: boolean }> {
  const { s3, bucket, sizesMiB, reps, log } = options
  const block = benchBlock(BLOCK_BYTES)
  const child = await bundleChild(options.root)
  const rows: string[][] = []
  const rssRows: string[][] = []
  const hashRss: number[] = []
  const ratios: number[] = []
  let ok = true

  for (const sizeMiB of sizesMiB) {
    const uploadStarted = performance.now()
    const key = await ensureObject(s3, bucket, sizeMiB, block)
    log(`hashing: ${sizeMiB} MiB object ready (${fmt((performance.now() - uploadStarted) / 1000)} s)`)
    const size = sizeMiB * MiB
    const hash: Measurement[] = []
    const drain: Measurement[] = []
    // Alternate the modes so that a slow moment of the shared machine hits both alike.
    for (let i = 0; i < reps; i++) {
      drain.push(await measure(child, { mode: 'drain', key, size }))
      hash.push(await measure(child, { mode: 'hash', key, size }))
    }
    const memory = await measure(child, { mode: 'memory', key, size })
    const plain = await measure(child, { mode: 'drain-plain', key, size })
    for (const m of [...hash, ...drain, plain]) if (m.bytes !== size) throw new Error(`read ${m.bytes} bytes of ${key}, expected ${size}`)
    if (hash.some((m) => m.sha256 !== memory.sha256)) throw new Error(`streamed SHA-256 of ${key} differs from the in-memory one`)

    const h = median(hash)
    const d = median(drain)
    // Each hash run is paired with the drain run just before it, under the same load of the shared machine.
    const pairs = hash.map((m, i) => mbps(m) / mbps(drain[i]!)).sort((a, b) => a - b)
    const r = pairs[Math.floor((pairs.length - 1) / 2)]!
    const rss = peakRssMb(hash)
    hashRss.push(rss)
    ratios.push(r)
    ok &&= r >= RATIO_GOAL && rss <= RSS_GOAL_MB
    rows.push([
      `${sizeMiB} MiB`,
      `**${fmt(mbps(h))}**`,
      fmt(mbps(d)),
      `**${fmt(r, 2)}x** (pairs ${hash.map((m, i) => fmt(mbps(m) / mbps(drain[i]!), 2)).join(' / ')})`,
      fmt(mbps(memory)),
      ratio(mbps(h), mbps(memory)),
      // If SHA-256 cannot overlap the read at all (no idle CPU), time = drain time + hash time.
      `${fmt(1 / (1 + mbps(d) / mbps(memory)), 2)}x`,
      `${fmt((100 * h.cpuMs) / h.ms, 0)}% / ${fmt((100 * d.cpuMs) / d.ms, 0)}%`,
      hash.map((m) => fmt(mbps(m), 0)).join(' / '),
      drain.map((m) => fmt(mbps(m), 0)).join(' / '),
    ])
    rssRows.push([`${sizeMiB} MiB`, `**${fmt(rss)}**`, fmt(peakRssMb(drain)), fmt(plain.maxRssBytes / 1e6), fmt(memory.maxRssBytes / 1e6)])
    log(`hashing ${sizeMiB} MiB: hash ${fmt(mbps(h))} MiB/s, drain ${fmt(mbps(d))} MiB/s (paired ratio ${fmt(r, 2)}x), memory ${fmt(mbps(memory))} MiB/s, peak RSS ${fmt(rss)} MB`)
  }

  const spread = Math.max(...hashRss) - Math.min(...hashRss)
  const flat = spread <= 0.1 * RSS_GOAL_MB
  ok &&= flat
  const body = [
    table(
      ['object', 'hash path MiB/s', 'storage drain MiB/s', 'hash / drain (median of paired runs)', 'in-memory SHA-256 MiB/s', 'hash / memory', 'hash / drain if hashing cannot overlap the read', 'CPU of the reading process, hash / drain', 'hash runs', 'drain runs'],
      rows,
    ),
    '',
    `Throughputs are the median of ${reps} alternating runs per mode (all runs listed); hash / drain is the median of the ratios of each hash run to the drain run just before it; each run is a fresh process (Node ${process.versions.node}) that streams the object from LocalStack with the product's S3 client. The drain runs the same loop as \`digestStream\` (including its minor GC every 4 MiB) minus SHA-256. The serial column is 1 / (1 + drain / in-memory rate): what hash / drain would be if SHA-256 ran strictly after each read, which is what happens when no CPU is idle (here LocalStack serves the stream from the same 2 CPUs). Goal: hash / drain >= ${RATIO_GOAL} — ${verdict(ratios.every((x) => x >= RATIO_GOAL))}.`,
    '',
    table(['object', 'peak RSS, hash path (MB)', 'peak RSS, drain (MB)', 'peak RSS, drain without the 4 MiB minor GC (MB)', 'peak RSS, in-memory (MB)'], rssRows),
    '',
    `Peak RSS is the measuring process's own VmHWM (\`/proc/self/status\`; getrusage's maxRSS would include the bench's own peak, carried across fork and exec). Goal: <= ${RSS_GOAL_MB} MB and flat across sizes ` +
      `(spread ${fmt(spread)} MB, allowed ${fmt(0.1 * RSS_GOAL_MB)} MB) — ${verdict(hashRss.every((x) => x <= RSS_GOAL_MB) && flat)}.`,
  ].join('\n')
  return { title: '1. Hashing: S3 stream -> SHA-256', body, ok }
}
