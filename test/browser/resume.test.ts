import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { ApiClient, resetState, sha256, tokenFor } from '../fixtures/pipeline.js'
import { startPageRig, type PageRig } from './chromium.js'
import { card, chooseFiles, cspViolations, openPage } from './page-helpers.js'

// The smallest part S3 takes, so a four-part file stays small (and within the malware scanner's limit).
// Read by the service's config on first use.
const PART_SIZE = 5 * 1024 * 1024
process.env.MULTIPART_PART_SIZE = String(PART_SIZE)

let rig: PageRig
let dir: string

beforeAll(async () => {
  rig = await startPageRig()
  await resetState()
  dir = await mkdtemp(join(tmpdir(), 'page-resume-'))
})
afterAll(async () => {
  await rig?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const partNumberOf = (url: string): number | undefined => {
  const n = new URL(url).searchParams.get('partNumber')
  return n === null ? undefined : Number(n)
}

it('resumes a multipart upload after a reload mid-upload, sending only the parts storage does not hold', async () => {
  const token = await tokenFor(`resume-${randomUUID()}`)
  const api = new ApiClient(rig.runtime.url, token)
  const bytes = randomBytes(4 * PART_SIZE - 7)
  await writeFile(join(dir, 'big.bin'), bytes)

  const page = await openPage(rig, token, 'resume')
  // Only the first part gets through before the reload: the network drops the others (Uppy retries them).
  await page.route(/partNumber=/, (route) => (partNumberOf(route.request().url()) === 1 ? route.continue() : route.abort('failed')))
  await chooseFiles(page, [join(dir, 'big.bin')])
  const fileId = await page.waitForSelector(`${card('big.bin')}[data-file-id]`).then((el) => el.getAttribute('data-file-id'))
  if (!fileId) throw new Error('the page shows no file id')
  let stored: { part_number: number }[] = []
  for (const deadline = Date.now() + 30_000; stored.length === 0; await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > deadline) throw new Error('no part was stored before the reload')
    stored = (await api.request('GET', `/files/${fileId}/parts`)).json.parts
  }
  // The route stays through the reload, so no retry of the old page's slips through on the way.
  await page.reload()
  await page.waitForSelector('body[data-ready="true"]')
  await page.unrouteAll()
  const before = (await api.request('GET', `/files/${fileId}/parts`)).json.parts.map((p: { part_number: number }) => p.part_number)
  expect(before).toEqual([1])

  // Golden Retriever restored the file and its upload (the file id); the Dashboard offers to go on.
  const sent: number[] = []
  page.on('request', (request) => {
    const n = partNumberOf(request.url())
    if (request.method() === 'PUT' && n !== undefined) sent.push(n)
  })
  await page.click('.uppy-StatusBar-actionBtn--upload')
  await page.waitForSelector(`${card('big.bin')}[data-state="synced"]`, { timeout: 90_000 })

  expect(sent.length).toBeGreaterThan(0)
  expect(sent.filter((n) => before.includes(n))).toEqual([])
  expect([...new Set([...before, ...sent])].sort()).toEqual([1, 2, 3, 4])
  expect(await page.textContent(`${card('big.bin')} .sha256`)).toBe(sha256(bytes))
  expect(await page.textContent('#summary')).toBe('1 synced, 0 failed')
  expect(await cspViolations(page)).toEqual([])
  const listed = await api.list({ external_id: 'resume' })
  expect(listed.json.files.map((f: { id: string; status: string }) => [f.id, f.status])).toEqual([[fileId, 'SYNCED']])
})

it('pauses a multipart upload from the Dashboard (no part goes out while paused) and resumes it to SYNCED', async () => {
  const token = await tokenFor(`pause-${randomUUID()}`)
  const bytes = randomBytes(4 * PART_SIZE - 11)
  await writeFile(join(dir, 'paused.bin'), bytes)
  const page = await openPage(rig, token, 'pause')
  // A slow network: each part takes a second, so the pause comes while parts are still to go.
  await page.route(/partNumber=/, async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    await route.continue().catch(() => undefined)
  })
  const sent: number[] = []
  page.on('request', (request) => {
    const n = partNumberOf(request.url())
    if (request.method() === 'PUT' && n !== undefined) sent.push(n)
  })
  await chooseFiles(page, [join(dir, 'paused.bin')])
  await page.waitForSelector(`${card('paused.bin')}[data-state="uploading"]`)
  await page.getByRole('button', { name: 'Pause', exact: true }).click()
  await page.getByRole('button', { name: 'Resume', exact: true }).waitFor()
  // Whatever was in flight is cut off at once; then nothing more is sent while paused.
  await new Promise((resolve) => setTimeout(resolve, 500))
  const whilePaused = sent.length
  await new Promise((resolve) => setTimeout(resolve, 2_500))
  expect(sent.length).toBe(whilePaused)
  expect(await page.getAttribute(card('paused.bin'), 'data-state')).toBe('uploading')

  await page.getByRole('button', { name: 'Resume', exact: true }).click()
  await page.waitForSelector(`${card('paused.bin')}[data-state="synced"]`, { timeout: 90_000 })
  expect(sent.length).toBeGreaterThan(whilePaused)
  expect(await page.textContent(`${card('paused.bin')} .sha256`)).toBe(sha256(bytes))
})
