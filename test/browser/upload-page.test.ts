import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { DEFAULT_CORS_ALLOWED_ORIGINS, provision } from '../../localstack/provision.js'
import { ApiClient, resetState, sha256, tokenFor } from '../fixtures/pipeline.js'
import { ARTIFACTS, startPageRig, type PageRig } from './chromium.js'

// Read by the service's config on first use, so a 2 MiB file is "too large" without uploading gigabytes.
const MAX_FILE_SIZE = 1024 * 1024
process.env.MAX_FILE_SIZE = String(MAX_FILE_SIZE)

let rig: PageRig
let dir: string
let token: string
const owner = `page-${randomUUID()}`

beforeAll(async () => {
  rig = await startPageRig()
  dir = await mkdtemp(join(tmpdir(), 'upload-page-'))
  // An owner of its own: nothing another test writes can show up in this one's listings.
  token = await tokenFor(owner)
})
afterAll(async () => {
  await rig?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})
beforeEach(resetState)

async function openPage(): Promise<Page> {
  const page = await rig.context.newPage()
  await page.goto(`${rig.runtime.url}/`)
  await page.fill('#token', token)
  await page.fill('#external-id', 'browser-batch')
  return page
}

// Runs in the page (a string: this project's TypeScript has no DOM types).
const RECORD_STATUSES = `
  window.seen = {}
  new MutationObserver((records) => {
    for (const r of records) {
      const list = (window.seen[r.target.dataset.file] ??= [])
      if (list.at(-1) !== r.target.dataset.status) list.push(r.target.dataset.status)
    }
  }).observe(document.querySelector('#uploads'), { subtree: true, attributes: true, attributeFilter: ['data-status'] })
`

const card = (name: string) => `li.upload[data-file="${name}"]`

describe('the upload page in Chromium', () => {
  it('uploads several files straight to storage, follows each to SYNCED and shows its SHA-256 and a CSV preview', async () => {
    const csv = Buffer.from('id,name,note\n1,ada,"likes, commas"\n2,grace,"says ""hi"""\n')
    const binary = randomBytes(300 * 1024)
    const html = Buffer.from('<!doctype html><p>not allowed</p>')
    const huge = Buffer.alloc(2 * MAX_FILE_SIZE, 'a')
    const files = { 'people.csv': csv, 'noise.bin': binary, 'page.html': html, 'huge.csv': huge }
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes)

    const page = await openPage()
    // Every status a card shows, in order, to check the page never shows a file moving backwards.
    await page.evaluate(RECORD_STATUSES)
    await page.setInputFiles('#files', Object.keys(files).map((name) => join(dir, name)))

    await page.waitForSelector(`${card('people.csv')}[data-state="synced"]`)
    await page.waitForSelector(`${card('noise.bin')}[data-state="synced"]`)
    expect(await page.textContent(`${card('people.csv')} .sha256`)).toBe(sha256(csv))
    expect(await page.textContent(`${card('noise.bin')} .sha256`)).toBe(sha256(binary))
    // S3's ETag of a POSTed object is its MD5; the page can read it only if CORS exposes the header.
    expect(await page.getAttribute(card('people.csv'), 'data-etag')).toBe(`"${createHash('md5').update(csv).digest('hex')}"`)

    const preview = await page.$$eval(`${card('people.csv')} .preview tr`, (rows) =>
      rows.map((row) => [...row.children].map((cell) => cell.textContent)),
    )
    expect(preview).toEqual([
      ['id', 'name', 'note'],
      ['1', 'ada', 'likes, commas'],
      ['2', 'grace', 'says "hi"'],
    ])
    expect(await page.isVisible(`${card('noise.bin')} .preview`)).toBe(false)

    const seen = await page.evaluate<Record<string, string[]>>('window.seen')
    const order = ['UPLOADING', 'PENDING', 'UPLOADED', 'SYNCING', 'SYNCED']
    for (const name of ['people.csv', 'noise.bin']) {
      const steps = seen[name]!
      expect(steps.slice(0, 2)).toEqual(['UPLOADING', 'PENDING'])
      expect(steps.at(-1)).toBe('SYNCED')
      expect(steps.map((s) => order.indexOf(s))).toEqual([...steps.map((s) => order.indexOf(s))].sort((a, b) => a - b))
    }

    await page.waitForSelector(`${card('page.html')}[data-state="refused"]`)
    expect(await page.textContent(`${card('page.html')} .message`)).toBe('Wrong type: Content type text/html is not allowed.')
    await page.waitForSelector(`${card('huge.csv')}[data-state="refused"]`)
    expect(await page.textContent(`${card('huge.csv')} .message`)).toBe('Too large: files may be at most 1.0 MB.')

    await page.screenshot({ path: join(ARTIFACTS, 'upload-page.png'), fullPage: true })

    // The service agrees: exactly the two accepted files exist, SYNCED, under the page's external id.
    const listed = await new ApiClient(rig.runtime.url, token).list({ external_id: 'browser-batch' })
    expect(
      listed.json.files.map((f: { filename: string; status: string; sha256: string }) => [f.filename, f.status, f.sha256]).sort(),
    ).toEqual([
      ['noise.bin', 'SYNCED', sha256(binary)],
      ['people.csv', 'SYNCED', sha256(csv)],
    ])
  })

  it('uploads files dropped on the drop zone', async () => {
    const page = await openPage()
    const dropped = 'id\n1\n2\n'
    // A DataTransfer holding a file, as a drag from the desktop delivers it.
    const dataTransfer = await page.evaluateHandle(
      `(() => { const dt = new DataTransfer(); dt.items.add(new File([${JSON.stringify(dropped)}], 'dropped.csv', { type: 'text/csv' })); return dt })()`,
    )
    await page.dispatchEvent('#drop', 'drop', { dataTransfer })
    await page.waitForSelector(`${card('dropped.csv')}[data-state="synced"]`)
    expect(await page.textContent(`${card('dropped.csv')} .sha256`)).toBe(sha256(Buffer.from(dropped)))
  })

  it("says so when the bucket's CORS does not allow the page's origin", async () => {
    await provision({ env: process.env, corsAllowedOrigins: DEFAULT_CORS_ALLOWED_ORIGINS })
    try {
      const page = await openPage()
      await writeFile(join(dir, 'blocked.csv'), 'a\n1\n')
      await page.setInputFiles('#files', join(dir, 'blocked.csv'))
      await page.waitForSelector(`${card('blocked.csv')}[data-state="refused"]`)
      expect(await page.textContent(`${card('blocked.csv')} .message`)).toBe(
        "Could not reach storage (network error, or the bucket does not allow this page's origin).",
      )
    } finally {
      await provision({ env: process.env, corsAllowedOrigins: [rig.runtime.url, ...DEFAULT_CORS_ALLOWED_ORIGINS] })
    }
  })

  it('remembers the token across reloads and says when the service refuses it', async () => {
    const page = await openPage()
    await page.reload()
    expect(await page.inputValue('#token')).toBe(token)
    expect(await page.textContent('#whoami')).toMatch(new RegExp(`^Uploading as ${owner} until `))

    await page.fill('#token', 'not-a-token')
    await writeFile(join(dir, 'note.txt'), 'hello')
    await page.setInputFiles('#files', join(dir, 'note.txt'))
    await page.waitForSelector(`${card('note.txt')}[data-state="refused"]`)
    expect(await page.textContent(`${card('note.txt')} .message`)).toBe(
      'Not signed in: paste a valid token (npm run -s token -- alice) and try again.',
    )
  })
})
