import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { ApiClient, resetState, tokenFor } from '../fixtures/pipeline.js'
import { startPageRig, type PageRig } from './chromium.js'
import { card, chooseFiles, openPage } from './page-helpers.js'

// A presigned POST that lives one second, read by the service's config on first use.
process.env.UPLOAD_URL_TTL_SECONDS = '1'

let rig: PageRig
let dir: string

beforeAll(async () => {
  rig = await startPageRig()
  await resetState()
  dir = await mkdtemp(join(tmpdir(), 'expired-upload-'))
})
afterAll(async () => {
  await rig?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

it('shows storage refusing an upload whose presigned POST expired on the way, and a retry presigns afresh', async () => {
  const token = await tokenFor(`expired-${randomUUID()}`)
  const page = await openPage(rig, token, 'expired')
  // Holds the browser's POST to storage until its policy has expired, as a slow network would.
  const slow = async (route: import('playwright-core').Route) => {
    if (route.request().method() === 'POST') await new Promise((resolve) => setTimeout(resolve, 2_500))
    await route.continue()
  }
  await page.route(`${process.env.AWS_ENDPOINT_URL}/**`, slow)
  await writeFile(join(dir, 'late.csv'), 'a,b\n1,2\n')
  await chooseFiles(page, [join(dir, 'late.csv')])

  await page.waitForSelector(`${card('late.csv')}[data-state="refused"]`)
  expect(await page.textContent(`${card('late.csv')} .message`)).toBe('The upload link expired before the upload finished: try again.')
  const api = new ApiClient(rig.runtime.url, token)
  const listed = await api.list({ external_id: 'expired' })
  expect(listed.json.files.map((f: { filename: string; status: string }) => [f.filename, f.status])).toEqual([['late.csv', 'PENDING']])

  // On a network that keeps up, the Dashboard's retry asks for a new link (the old one is spent) and goes through.
  await page.unroute(`${process.env.AWS_ENDPOINT_URL}/**`, slow)
  await page.click('.uppy-StatusBar-actionBtn--retry')
  await page.waitForSelector(`${card('late.csv')}[data-state="synced"]`)
  expect(await page.textContent('#summary')).toBe('1 synced, 0 failed')
  const after = await api.list({ external_id: 'expired' })
  expect(after.json.files.map((f: { status: string }) => f.status).sort()).toEqual(['PENDING', 'SYNCED'])
})
