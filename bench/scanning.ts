/**
 * Malware scanning: the hash stage's read (S3 GetObject stream -> digestStream) with every chunk also streamed to
 * clamd over INSTREAM, beside the same read without a scanner, interleaved in the same run; and the scan latency,
 * both the wait for clamd's verdict after the last chunk and the whole scan of a small file.
 */
import { randomBytes } from 'node:crypto'
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import type { Readable } from 'node:stream'
import { createClamavScanner } from '../functions/core/clamav.js'
import type { MalwareScanningConfig } from '../functions/core/config.js'
import { digestStream } from '../functions/core/hashing.js'
import type { ScanSession } from '../functions/core/scanner.js'
import { fmt, MiB, ratio, summarize, table, type Section } from './stats.js'

export interface ScanningOptions {
  s3: S3Client
  bucket: string
  scanning: MalwareScanningConfig
  sizesMiB: readonly number[]
  reps: number
  smallScans: number
  log: (line: string) => void
}

/** The hash stage's order: the scan gets each chunk before the hash does. */
async function* feeding(scan: ScanSession, stream: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  for await (const chunk of stream) {
    await scan.update(chunk)
    yield chunk
  }
}

const keyFor = (sizeMiB: number) => `bench/scanning/${sizeMiB}MiB-random-v1`

export async function benchScanning(o: ScanningOptions): Promise<Section & { ok: boolean }> {
  const scanner = createClamavScanner(o.scanning)
  const read = async (key: string) =>
    (await o.s3.send(new GetObjectCommand({ Bucket: o.bucket, Key: key }))).Body as Readable

  const rows: string[][] = []
  let ok = true
  for (const sizeMiB of o.sizesMiB) {
    const key = keyFor(sizeMiB)
    // Random bytes: no signature matches, and clamd has nothing to unpack, as for most uploads.
    await o.s3.send(new PutObjectCommand({ Bucket: o.bucket, Key: key, Body: randomBytes(sizeMiB * MiB) }))
    const plain: number[] = []
    const scanned: number[] = []
    const verdictWait: number[] = []
    for (let rep = 0; rep < o.reps; rep++) {
      let t = performance.now()
      await digestStream(await read(key), 0)
      plain.push(performance.now() - t)

      t = performance.now()
      const session = scanner.begin({ size: sizeMiB * MiB })
      await digestStream(feeding(session, await read(key)), 0)
      const hashed = performance.now()
      const verdict = await session.finish()
      const done = performance.now()
      if (verdict.kind !== 'clean') ok = false
      scanned.push(done - t)
      verdictWait.push(done - hashed)
    }
    const rate = (ms: number[]) => (sizeMiB * 1000) / summarize(ms).p50
    o.log(`scanning ${sizeMiB} MiB: ${fmt(rate(plain))} MiB/s plain, ${fmt(rate(scanned))} MiB/s with clamd`)
    rows.push([
      `${sizeMiB} MiB`,
      fmt(rate(plain)),
      fmt(rate(scanned)),
      ratio(rate(scanned), rate(plain)),
      fmt(summarize(verdictWait).p50),
      fmt(summarize(verdictWait).max),
    ])
  }

  const small: number[] = []
  const bytes = randomBytes(4096)
  for (let i = 0; i < o.smallScans; i++) {
    const t = performance.now()
    const session = scanner.begin({ size: bytes.length })
    await session.update(bytes)
    await session.finish()
    small.push(performance.now() - t)
  }
  const s = summarize(small)
  return {
    title: 'Malware scanning (ClamAV, clamd INSTREAM)',
    ok,
    body: [
      table(['object', 'hash MiB/s', 'hash + clamd MiB/s', 'ratio', 'verdict wait p50 ms', 'max ms'], rows),
      '',
      `A whole scan of a 4 KiB file (connect, INSTREAM, verdict), n=${s.n}: p50 ${fmt(s.p50)} ms, p95 ${fmt(s.p95)} ms, max ${fmt(s.max)} ms.`,
      'clamd has only the test signature here (scripts/clamd.sh); with the official databases it does more work per byte.',
    ].join('\n'),
  }
}
