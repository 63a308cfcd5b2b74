import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { ApiClient, resetState, tokenFor } from '../fixtures/pipeline.js'
import { startPageRig, type PageRig } from './chromium.js'

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

it('shows storage refusing an upload whose presigned POST expired before it arrived', async () => {
  const token = await tokenFor(`expired-${randomUUID()}`)
  const page = await rig.context.newPage()
  // Holds the browser's POST to storage until its policy has expired, as a slow network would.
  await page.route(`${process.env.AWS_ENDPOINT_URL}/**`, async (route) => {
    if (route.request().method() === 'POST') await new Promise((resolve) => setTimeout(resolve, 2_500))
    await route.continue()
  })
  await page.goto(`${rig.runtime.url}/`)
  await page.fill('#token', token)
  await writeFile(join(dir, 'late.csv'), 'a,b\n1,2\n')
  await page.setInputFiles('#files', join(dir, 'late.csv'))

  await page.waitForSelector('li.upload[data-file="late.csv"][data-state="refused"]')
  expect(await page.textContent('li.upload[data-file="late.csv"] .message')).toBe(
    'The upload link expired before the upload finished: try again.',
  )
  const listed = await new ApiClient(rig.runtime.url, token).list()
  expect(listed.json.files.map((f: { filename: string; status: string }) => [f.filename, f.status])).toEqual([['late.csv', 'PENDING']])
})
