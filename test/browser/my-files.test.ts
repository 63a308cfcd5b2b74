import { randomBytes, randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UploadClient } from '../../client/src/index.js'
import { postToStorage, resetState, tokenFor } from '../fixtures/pipeline.js'
import { ARTIFACTS, startPageRig, type PageRig } from './chromium.js'
import { cspViolations, openPage } from './page-helpers.js'

// Files above this are not returned inline but through a presigned `download_url`: a few KiB show both ways.
// Read by the service's config on first use.
const CACHE_MAX_BYTES = 1024
process.env.CACHE_MAX_BYTES = String(CACHE_MAX_BYTES)

let rig: PageRig
let token: string
let client: UploadClient
const csvOf = (i: number) => Buffer.from(`id,name\n${i},file ${i}\n`)
const large = randomBytes(8 * CACHE_MAX_BYTES)

beforeAll(async () => {
  rig = await startPageRig()
  await resetState()
  token = await tokenFor(`files-${randomUUID()}`)
  client = new UploadClient({ baseUrl: rig.runtime.url, token })
  // Oldest first, so the newest-first listing shows alpha-7 at the top.
  for (let i = 1; i <= 7; i++) await client.upload(new Blob([csvOf(i)]), { filename: `alpha-${i}.csv`, externalId: 'alpha', contentType: 'text/csv' })
  for (let i = 1; i <= 2; i++) await client.upload(new Blob([csvOf(100 + i)]), { filename: `beta-${i}.csv`, externalId: 'beta', contentType: 'text/csv' })
  await client.upload(new Blob([large]), { filename: 'large.bin', externalId: 'beta', contentType: 'application/octet-stream' })
})
afterAll(() => rig?.close())

const names = (page: Page) => page.$$eval('#files-table tbody th', (cells) => cells.map((c) => c.textContent))
const rowOf = (page: Page, name: string) => page.locator('#files-table tbody tr', { has: page.getByRole('rowheader', { name, exact: true }) })

// A selector, not a function: the page's CSP forbids the eval a polled function string would need.
const statusSays = (page: Page, text: string) => page.waitForSelector(`#files-status:text-is(${JSON.stringify(text)})`)

async function downloaded(page: Page, click: () => Promise<void>): Promise<Buffer> {
  const [download] = await Promise.all([page.waitForEvent('download'), click()])
  return readFile((await download.path())!)
}

describe('"My files" in Chromium', () => {
  it('lists the files a page at a time, newest first, and filters them by external id', async () => {
    const page = await openPage(rig, token)
    await page.getByLabel('Per page').selectOption('5')
    await page.getByRole('button', { name: 'Show' }).click()
    await statusSays(page, 'Page 1: 5 files.')
    expect(await names(page)).toEqual(['large.bin', 'beta-2.csv', 'beta-1.csv', 'alpha-7.csv', 'alpha-6.csv'])
    expect(await page.getByRole('button', { name: 'Previous page' }).isDisabled()).toBe(true)

    await page.getByRole('button', { name: 'Next page' }).click()
    await statusSays(page, 'Page 2: 5 files.')
    expect(await names(page)).toEqual(['alpha-5.csv', 'alpha-4.csv', 'alpha-3.csv', 'alpha-2.csv', 'alpha-1.csv'])
    await page.getByRole('button', { name: 'Previous page' }).click()
    await statusSays(page, 'Page 1: 5 files.')
    expect(await names(page)).toEqual(['large.bin', 'beta-2.csv', 'beta-1.csv', 'alpha-7.csv', 'alpha-6.csv'])

    await page.getByRole('searchbox', { name: 'External id' }).fill('beta')
    await page.getByRole('searchbox', { name: 'External id' }).press('Enter')
    await statusSays(page, 'Page 1: 3 files.')
    expect(await names(page)).toEqual(['large.bin', 'beta-2.csv', 'beta-1.csv'])
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true)
    expect(await cspViolations(page)).toEqual([])
  })

  it('downloads a small file from its inline content and a large one from its download URL', async () => {
    const page = await openPage(rig, token)
    await page.waitForSelector('#files-table tbody tr')
    const small = await downloaded(page, () => page.getByRole('button', { name: 'Download alpha-3.csv' }).click())
    expect(small.equals(csvOf(3))).toBe(true)
    const big = await downloaded(page, () => page.getByRole('button', { name: 'Download large.bin' }).click())
    expect(big.equals(large)).toBe(true)
  })

  it('deletes a file only after the confirmation, by mouse or keyboard', async () => {
    const page = await openPage(rig, token)
    await page.waitForSelector('#files-table tbody tr')
    const alpha1 = (await rowOf(page, 'alpha-1.csv').getAttribute('data-file-id'))!

    await page.getByRole('button', { name: 'Delete alpha-1.csv' }).click()
    const dialog = page.getByRole('dialog', { name: 'Delete this file?' })
    expect(await dialog.textContent()).toContain('Delete alpha-1.csv (17 B)? This cannot be undone.')
    // The safe choice has the focus: Enter right away keeps the file.
    await page.keyboard.press('Enter')
    expect(await dialog.isVisible()).toBe(false)
    expect((await client.getFile(alpha1)).file.status).toBe('SYNCED')
    await page.getByRole('button', { name: 'Delete alpha-1.csv' }).click()
    await page.keyboard.press('Escape')
    expect((await client.getFile(alpha1)).file.status).toBe('SYNCED')

    await page.getByRole('button', { name: 'Delete alpha-1.csv' }).focus()
    await page.keyboard.press('Enter')
    await page.keyboard.press('Tab')
    await page.keyboard.press('Enter')
    await statusSays(page, 'Deleted alpha-1.csv.')
    expect(await rowOf(page, 'alpha-1.csv').count()).toBe(0)
    await expect(client.getFile(alpha1)).rejects.toMatchObject({ status: 404, code: 'FILE_NOT_FOUND' })
    await page.screenshot({ path: join(ARTIFACTS, 'my-files.png'), fullPage: true })
  })

  it('refreshes a status until it is final', async () => {
    const bytes = csvOf(999)
    const upload = await client.presign({ filename: 'late.csv', external_id: 'late', file_size: bytes.length, content_type: 'text/csv' })
    if (upload.upload_type !== 'post') throw new Error('expected a presigned POST')
    expect((await postToStorage(upload, bytes)).status).toBe(204)
    const page = await openPage(rig, token)
    await page.waitForSelector(`#files-table tbody tr[data-file-id="${upload.file_id}"][data-status="PENDING"]`)
    // Confirmed elsewhere (another tab, the CLI): the listing catches up on its own.
    await client.confirm(upload.file_id, bytes.length)
    await page.waitForSelector(`#files-table tbody tr[data-file-id="${upload.file_id}"][data-status="SYNCED"]`, { timeout: 30_000 })
    expect(await page.getByRole('button', { name: 'Download late.csv' }).isVisible()).toBe(true)
  })

  it('labels every control of the page', async () => {
    const page = await openPage(rig, token)
    await page.waitForSelector('#files-table tbody tr')
    // Each input, select and button outside Uppy's own widget has an accessible name.
    const unnamed = await page.evaluate<string[]>(`[...document.querySelectorAll('main input, main select, main button')]
      .filter((c) => !c.closest('#uppy'))
      .filter((c) => !(c.getAttribute('aria-label') || c.labels?.length || (c.tagName === 'BUTTON' && c.textContent.trim())))
      .map((c) => c.outerHTML)`)
    expect(unnamed).toEqual([])
  })
})
