/**
 * Large-file upload: the CLI's way of uploading (the client library's `upload` over a file on disk, presign to
 * confirm, through the local runtime, per-part SHA-256 signed in) beside the SDK's own managed transfer
 * (`@aws-sdk/lib-storage` `Upload`, credentials direct) of the same file to the same storage, in the same run,
 * at 1, 4, 8 and 16 parts in flight. The waiting for SYNCED that the CLI does afterwards is not timed: it is the
 * hash stage, measured in section 1.
 */
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { fileSource } from '../bin/upload/parts.js'
import { UploadClient } from '../client/src/index.js'
import { fmt, MiB, ratio, table, verdict, type Section } from './stats.js'

const PART_SIZE = 8 * MiB
const RATIO_GOAL = 1.2

export interface MultipartBenchOptions {
  root: string
  url: string
  token: string
  s3: S3Client
  bucket: string
  sizeMiB: number
  inFlight: readonly number[]
  log: (line: string) => void
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const handle = await open(path, 'w')
  try {
    for (let written = 0; written < bytes; written += 16 * MiB) await handle.write(randomBytes(Math.min(16 * MiB, bytes - written)))
  } finally {
    await handle.close()
  }
}

async function timeCli(options: MultipartBenchOptions, path: string, size: number, parallel: number): Promise<number> {
  const api = new UploadClient({ baseUrl: options.url, token: options.token })
  const source = await fileSource(path, size)
  const started = performance.now()
  try {
    await api.upload(source, { filename: 'bench.bin', externalId: 'bench-multipart', multipart: true, partConcurrency: parallel, partChecksums: true })
  } finally {
    await source.close()
  }
  return performance.now() - started
}

async function timeSdk(options: MultipartBenchOptions, path: string, parallel: number): Promise<number> {
  const started = performance.now()
  const upload = new Upload({
    client: options.s3,
    params: { Bucket: options.bucket, Key: `bench/lib-storage-${Date.now()}`, Body: createReadStream(path), ContentType: 'application/octet-stream' },
    partSize: PART_SIZE,
    queueSize: parallel,
  })
  await upload.done()
  return performance.now() - started
}

export async function benchMultipart(options: MultipartBenchOptions): Promise<Section & { ok: boolean }> {
  const size = options.sizeMiB * MiB
  const path = join(options.root, '.bench', 'multipart.bin')
  await writeRandomFile(path, size)
  const rows: string[][] = []
  let atDefault: { cli: number; sdk: number } | undefined
  try {
    for (const parallel of options.inFlight) {
      // Alternating order, so neither side always runs on a warmer page cache or a quieter LocalStack.
      const sdkFirst = parallel % 2 === 0
      const sdk1 = sdkFirst ? await timeSdk(options, path, parallel) : undefined
      const cli = await timeCli(options, path, size, parallel)
      const sdk = sdk1 ?? (await timeSdk(options, path, parallel))
      options.log(`multipart: ${options.sizeMiB} MiB at ${parallel} in flight: CLI ${fmt(cli / 1000, 2)} s, lib-storage ${fmt(sdk / 1000, 2)} s`)
      rows.push([
        String(parallel),
        fmt(cli / 1000, 2),
        fmt(size / MiB / (cli / 1000), 0),
        fmt(sdk / 1000, 2),
        fmt(size / MiB / (sdk / 1000), 0),
        ratio(cli, sdk),
      ])
      if (parallel === 8) atDefault = { cli, sdk }
    }
  } finally {
    await rm(path, { force: true })
  }
  const ok = atDefault !== undefined && atDefault.cli <= atDefault.sdk * RATIO_GOAL
  const body = [
    `A ${options.sizeMiB} MiB file in ${PART_SIZE / MiB} MiB parts. CLI: presign, sign each part, PUT it with its SHA-256, ` +
      `confirm (the server lists the parts and completes). Baseline: lib-storage's \`Upload\` with the same part size and ` +
      `queue size, credentials direct, no API in between.`,
    '',
    table(['parts in flight', 'CLI s', 'CLI MiB/s', 'lib-storage s', 'lib-storage MiB/s', 'CLI / SDK'], rows),
    '',
    `Goal at the CLI's default of 8 in flight: CLI <= ${RATIO_GOAL}x the SDK's time: **${verdict(ok)}**.`,
  ].join('\n')
  return { title: 'Large-file upload: CLI multipart vs lib-storage', body, ok }
}
