import { randomBytes, randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { ApiClient, resetState, sha256, tokenFor } from '../fixtures/pipeline.js'
import { ARTIFACTS, startPageRig, type PageRig } from './chromium.js'
import { card, chooseFolder, cspViolations, openPage, statesSeen } from './page-helpers.js'

// A presign limit the folder exceeds, with a short window: the page must wait it out (Retry-After), never refuse.
// Read by the service's config on first use.
process.env.PRESIGN_RATE_LIMIT = '150'
process.env.PRESIGN_RATE_WINDOW_SECONDS = '4'

const SMALL_FILES = 300
const LARGE_FILE_BYTES = 40 * 1024 * 1024

let rig: PageRig
let dir: string

beforeAll(async () => {
  rig = await startPageRig()
  await resetState()
  dir = await mkdtemp(join(tmpdir(), 'folder-drop-'))
})
afterAll(async () => {
  await rig?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

it('takes a folder of 300 small files and a 40 MiB file to SYNCED, waiting out the rate limit without a refusal', async () => {
  const token = await tokenFor(`folder-${randomUUID()}`)
  const folder = join(dir, 'export')
  await mkdir(folder)
  const expected = new Map<string, string>()
  for (let i = 0; i < SMALL_FILES; i++) {
    const bytes = Buffer.from(`id,value\n${i},${randomUUID()}\n`)
    const name = `row-${String(i).padStart(3, '0')}.csv`
    await writeFile(join(folder, name), bytes)
    expected.set(name, sha256(bytes))
  }
  const large = randomBytes(LARGE_FILE_BYTES)
  await writeFile(join(folder, 'video.bin'), large)
  expected.set('video.bin', sha256(large))

  const page = await openPage(rig, token, 'folder-drop')
  let presignRequests = 0
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().endsWith('/files/presigned-upload')) presignRequests += 1
  })
  await chooseFolder(page, folder)

  await page.waitForSelector('#summary[data-done="true"]', { timeout: 240_000 })
  expect(await page.textContent('#summary')).toBe(`${SMALL_FILES + 1} synced, 0 failed`)
  // The limit was hit and waited out: the page said "waiting", and no line was ever refused or failed.
  expect(await page.getAttribute('body', 'data-waited')).toBe('true')
  const states = await statesSeen(page)
  expect(Object.keys(states)).toHaveLength(SMALL_FILES + 1)
  expect(Object.entries(states).filter(([, seen]) => seen.some((s) => s === 'refused' || s === 'failed'))).toEqual([])
  expect(await page.locator('li.upload .message:not(:empty)').count()).toBe(0)
  expect(await page.textContent(`${card('video.bin')} .sha256`)).toBe(expected.get('video.bin'))
  // Presigned in batches of 100 (four), plus the answers the rate limit refused and the library tried again.
  expect(presignRequests).toBeGreaterThanOrEqual(4)
  expect(presignRequests).toBeLessThan(20)
  await page.screenshot({ path: join(ARTIFACTS, 'folder-drop.png') })
  expect(await cspViolations(page)).toEqual([])

  // The service holds every file, SYNCED with the digest of the bytes on disk.
  const api = new ApiClient(rig.runtime.url, token)
  const stored = new Map<string, [string, string]>()
  for (let cursor: string | null = null; ; ) {
    const res = await api.list({ external_id: 'folder-drop', limit: '100', ...(cursor ? { cursor } : {}) })
    for (const f of res.json.files) stored.set(f.filename, [f.status, f.sha256])
    cursor = res.json.next_cursor
    if (!cursor) break
  }
  expect(stored.size).toBe(SMALL_FILES + 1)
  for (const [name, digest] of expected) expect(stored.get(name), name).toEqual(['SYNCED', digest])
}, 300_000)
