/**
 * 7. A folder drop: the same small CSV files (a folder of them) uploaded to SYNCED three ways in the same run,
 * against the same runtime, each as a user of its own (so no way spends another's presign budget):
 * - the page: Chromium opens the upload page, the folder goes in through the Uppy Dashboard's folder picker, and the
 *   clock stops when the page's summary line says every file is synced;
 * - the CLI (`bin/upload.ts`, a process of its own, files one after another, each followed to SYNCED and verified);
 * - the bare pipeline: the API and storage called directly with the same parallelism as the page (batch presign,
 *   6 form POSTs in flight, batch confirm), the clock stopping when the listing shows every file SYNCED.
 * Files per second include hashing and scanning, which all three wait for.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { UploadClient } from '../client/src/index.js'
import { launchChromium } from '../test/browser/chromium.js'
import { postToStorage, tokenFor } from '../test/fixtures/pipeline.js'
import { csvFile } from './e2e.js'
import { fmt, mapConcurrent, ratio, table, type Section } from './stats.js'

const run = promisify(execFile)
// Uppy's S3 plugin sends at most this many requests at once (its `limit`, set in web/src/uploader.ts).
const PAGE_PARALLELISM = 6
const BATCH = 100

export interface FolderDropOptions {
  root: string
  url: string
  files: number
  log: (line: string) => void
}

interface Way {
  name: string
  seconds: number
  note: string
}

async function waitForAllSynced(client: UploadClient, externalId: string, files: number, deadline: number): Promise<void> {
  for (;;) {
    let synced = 0
    for await (const file of client.listFiles({ externalId, limit: 100 })) {
      if (file.status === 'SYNCED') synced += 1
      else if (file.status !== 'PENDING' && file.status !== 'UPLOADED' && file.status !== 'SYNCING') throw new Error(`${file.filename} ended ${file.status}`)
    }
    if (synced === files) return
    if (Date.now() > deadline) throw new Error(`${synced} of ${files} synced before the deadline`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function viaPage(options: FolderDropOptions, folder: string): Promise<Way> {
  const token = await tokenFor(`bench-folder-page-${Date.now()}`, '2h')
  const profile = await mkdtemp(join(tmpdir(), 'bench-chromium-'))
  const context = await launchChromium(profile)
  try {
    const page = await context.newPage()
    await page.goto(`${options.url}/`)
    await page.waitForSelector('body[data-ready="true"]')
    await page.fill('#token', token)
    await page.fill('#external-id', 'bench-folder-page')
    const started = performance.now()
    await page.setInputFiles('.uppy-Dashboard-input[webkitdirectory]', folder)
    await page.waitForSelector('#summary[data-done="true"]', { timeout: 600_000 })
    const seconds = (performance.now() - started) / 1000
    const summary = await page.textContent('#summary')
    if (summary !== `${options.files} synced, 0 failed`) throw new Error(`the page says: ${summary}`)
    return { name: 'page (Chromium, Uppy Dashboard)', seconds, note: 'folder picker to the summary line; batch presign, 6 requests in flight' }
  } finally {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  }
}

async function viaCli(options: FolderDropOptions, paths: string[]): Promise<Way> {
  const token = await tokenFor(`bench-folder-cli-${Date.now()}`, '2h')
  const cache = await mkdtemp(join(tmpdir(), 'bench-cli-cache-'))
  try {
    const started = performance.now()
    await run(process.execPath, ['--import', 'tsx', join(options.root, 'bin/upload.ts'), ...paths, '--external-id', 'bench-folder-cli', '--api', options.url, '--token', token, '--quiet'], {
      cwd: options.root,
      env: { ...process.env, UPLOAD_CACHE_DIR: cache },
      maxBuffer: 64 * 1024 * 1024,
    })
    const seconds = (performance.now() - started) / 1000
    return { name: 'CLI (bin/upload.ts)', seconds, note: 'one process; files one after another, each waited for and verified' }
  } finally {
    await rm(cache, { recursive: true, force: true })
  }
}

async function viaBarePipeline(options: FolderDropOptions, contents: Buffer[]): Promise<Way> {
  const client = new UploadClient({ baseUrl: options.url, token: await tokenFor(`bench-folder-bare-${Date.now()}`, '2h') })
  const externalId = 'bench-folder-bare'
  const started = performance.now()
  const uploads = []
  for (let i = 0; i < contents.length; i += BATCH) {
    const chunk = contents.slice(i, i + BATCH)
    const result = await client.presignBatch(
      chunk.map((bytes, j) => ({ filename: `row-${i + j}.csv`, external_id: externalId, content_type: 'text/csv', file_size: bytes.length })),
    )
    if (result.failed.length) throw new Error(`presign refused ${result.failed.length} files`)
    uploads.push(...result.files)
  }
  await mapConcurrent(uploads, PAGE_PARALLELISM, async (upload, i) => {
    if (upload.upload_type !== 'post') throw new Error('expected a presigned POST')
    const stored = await postToStorage(upload, contents[i]!)
    if (stored.status !== 204 && stored.status !== 201) throw new Error(`storage: ${stored.status} ${stored.body}`)
  })
  for (let i = 0; i < uploads.length; i += BATCH) {
    const result = await client.confirmBatch(uploads.slice(i, i + BATCH).map((u, j) => ({ file_id: u.file_id, file_size: contents[i + j]!.length })))
    if (result.failed.length) throw new Error(`confirm refused ${result.failed.length} files`)
  }
  await waitForAllSynced(client, externalId, contents.length, Date.now() + 300_000)
  return { name: 'bare pipeline (API + POST, no UI)', seconds: (performance.now() - started) / 1000, note: 'batch presign, 6 POSTs in flight, batch confirm, listing polled' }
}

/** Figures only: the issue sets no goal for a folder drop. */
export async function benchFolderDrop(options: FolderDropOptions): Promise<Section> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-folder-'))
  try {
    const folder = join(dir, 'export')
    await mkdir(folder)
    const contents = Array.from({ length: options.files }, (_, i) => csvFile(i))
    const paths = contents.map((_, i) => join(folder, `row-${String(i).padStart(4, '0')}.csv`))
    await Promise.all(paths.map((path, i) => writeFile(path, contents[i]!)))
    const bytes = contents.reduce((sum, c) => sum + c.length, 0)

    options.log(`folder drop: ${options.files} files, bare pipeline`)
    const bare = await viaBarePipeline(options, contents)
    options.log(`folder drop: page in Chromium`)
    const page = await viaPage(options, folder)
    options.log(`folder drop: CLI`)
    const cli = await viaCli(options, paths)

    const rows = [bare, page, cli].map((way) => [
      way.name,
      fmt(way.seconds, 1),
      fmt(options.files / way.seconds, 1),
      ratio(bare.seconds, way.seconds),
      way.note,
    ])
    const body = [
      `${options.files} CSV files (${fmt(bytes / 1024, 0)} KiB in all, ${fmt(bytes / options.files / 1024, 1)} KiB each), from the start of the upload`,
      `until the service holds every one SYNCED (hashed and scanned), through the same runtime, in this run.`,
      '',
      table(['way', 'seconds', 'files/s', 'speed vs bare', 'what it does'], rows),
      '',
      `The page reaches ${fmt((100 * bare.seconds) / page.seconds, 0)} % of the bare pipeline's rate with the same parallelism. Where the rest goes`,
      "(Uppy's state updates, a line per file, Golden Retriever's IndexedDB writes, a poll per file) is not broken down here.",
      "The CLI uploads one file at a time and verifies each one's SHA-256 before the next: it is built for a few large files.",
    ].join('\n')
    return { title: '7. Folder drop: the page beside the CLI and the bare pipeline', body }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
