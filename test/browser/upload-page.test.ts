import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { DEFAULT_CORS_ALLOWED_ORIGINS, provision } from '../../localstack/provision.js'
import { ApiClient, resetState, sha256, tokenFor } from '../fixtures/pipeline.js'
import { ARTIFACTS, startPageRig, type PageRig } from './chromium.js'
import { card, chooseFiles, cspViolations, openPage, statesSeen, statusesSeen } from './page-helpers.js'

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

describe('the upload page (Uppy Dashboard) in Chromium', () => {
  it('uploads files straight to storage, follows each to SYNCED, shows its SHA-256 and a CSV preview, and says why others are refused', async () => {
    const csv = Buffer.from('id,name,note\n1,ada,"likes, commas"\n2,grace,"says ""hi"""\n')
    const binary = randomBytes(300 * 1024)
    const html = Buffer.from('<!doctype html><p>not allowed</p>')
    const huge = Buffer.alloc(2 * MAX_FILE_SIZE, 'a')
    const files = { 'people.csv': csv, 'noise.bin': binary, 'page.html': html, 'huge.csv': huge }
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes)

    const page = await openPage(rig, token, 'browser-batch')
    await chooseFiles(page, Object.keys(files).map((name) => join(dir, name)))

    await page.waitForSelector('#summary[data-done="true"]', { timeout: 60_000 })
    expect(await page.textContent('#summary')).toBe('2 synced, 2 failed')
    expect(await page.textContent(`${card('people.csv')} .sha256`)).toBe(sha256(csv))
    expect(await page.textContent(`${card('noise.bin')} .sha256`)).toBe(sha256(binary))

    const preview = await page.$$eval(`${card('people.csv')} .preview tr`, (rows) =>
      rows.map((row) => [...row.children].map((cell) => cell.textContent)),
    )
    expect(preview).toEqual([
      ['id', 'name', 'note'],
      ['1', 'ada', 'likes, commas'],
      ['2', 'grace', 'says "hi"'],
    ])
    expect(await page.isVisible(`${card('noise.bin')} .preview`)).toBe(false)

    // Every line moved forward only: uploading, confirming, uploaded, (hashing), synced.
    const seen = await statusesSeen(page)
    const order = ['UPLOADING', 'PENDING', 'UPLOADED', 'SYNCING', 'SYNCED']
    for (const name of ['people.csv', 'noise.bin']) {
      const steps = seen[name]!
      expect(steps.slice(0, 2)).toEqual(['UPLOADING', 'PENDING'])
      expect(steps.at(-1)).toBe('SYNCED')
      expect(steps.map((s) => order.indexOf(s))).toEqual([...steps.map((s) => order.indexOf(s))].sort((a, b) => a - b))
    }

    expect(await page.getAttribute(card('page.html'), 'data-state')).toBe('refused')
    expect(await page.textContent(`${card('page.html')} .message`)).toBe('Wrong type: Content type text/html is not allowed.')
    expect(await page.textContent(`${card('huge.csv')} .message`)).toBe('Too large: files may be at most 1.0 MB.')
    // The Dashboard itself shows the same sentence on the file, not Uppy's generic error.
    expect(await page.getAttribute('.uppy-Dashboard-Item:has-text("page.html") .uppy-Dashboard-Item-errorDetails', 'aria-label')).toBe(
      'Wrong type: Content type text/html is not allowed.',
    )

    await page.screenshot({ path: join(ARTIFACTS, 'upload-page.png'), fullPage: true })
    expect(await cspViolations(page)).toEqual([])

    // The service agrees: exactly the two accepted files exist, SYNCED, under the page's external id.
    const listed = await new ApiClient(rig.runtime.url, token).list({ external_id: 'browser-batch' })
    expect(
      listed.json.files.map((f: { filename: string; status: string; sha256: string }) => [f.filename, f.status, f.sha256]).sort(),
    ).toEqual([
      ['noise.bin', 'SYNCED', sha256(binary)],
      ['people.csv', 'SYNCED', sha256(csv)],
    ])
  })

  it('uploads files dropped on the Dashboard', async () => {
    const page = await openPage(rig, token)
    const dropped = 'id\n1\n2\n'
    // A DataTransfer holding a file, as a drag from the desktop delivers it.
    const dataTransfer = await page.evaluateHandle(
      `(() => { const dt = new DataTransfer(); dt.items.add(new File([${JSON.stringify(dropped)}], 'dropped.csv', { type: 'text/csv' })); return dt })()`,
    )
    await page.dispatchEvent('.uppy-Dashboard-innerWrap', 'dragover', { dataTransfer })
    await page.dispatchEvent('.uppy-Dashboard-innerWrap', 'drop', { dataTransfer })
    await page.waitForSelector(`${card('dropped.csv')}[data-state="synced"]`)
    expect(await page.textContent(`${card('dropped.csv')} .sha256`)).toBe(sha256(Buffer.from(dropped)))
    expect(await page.textContent('#summary')).toBe('1 synced, 0 failed')
  })

  it("says so when the bucket's CORS does not allow the page's origin", async () => {
    await provision({ env: process.env, corsAllowedOrigins: DEFAULT_CORS_ALLOWED_ORIGINS })
    try {
      const page = await openPage(rig, token)
      await writeFile(join(dir, 'blocked.csv'), 'a\n1\n')
      await chooseFiles(page, [join(dir, 'blocked.csv')])
      await page.waitForSelector(`${card('blocked.csv')}[data-state="refused"]`)
      expect(await page.textContent(`${card('blocked.csv')} .message`)).toBe(
        "Could not reach storage (network error, or the bucket does not allow this page's origin).",
      )
    } finally {
      await provision({ env: process.env, corsAllowedOrigins: [rig.runtime.url, ...DEFAULT_CORS_ALLOWED_ORIGINS] })
    }
  })

  it('remembers the token across reloads and says when the service refuses it', async () => {
    const page = await openPage(rig, token)
    await page.reload()
    await page.waitForSelector('body[data-ready="true"]')
    expect(await page.inputValue('#token')).toBe(token)
    expect(await page.textContent('#whoami')).toMatch(new RegExp(`^Uploading as ${owner} until `))

    await page.fill('#token', 'not-a-token')
    await writeFile(join(dir, 'note.txt'), 'hello')
    await chooseFiles(page, [join(dir, 'note.txt')])
    await page.waitForSelector(`${card('note.txt')}[data-state="refused"]`)
    expect(await page.textContent(`${card('note.txt')} .message`)).toBe(
      'Not signed in: paste a valid token (npm run -s token -- alice) and try again.',
    )
    // Refused once, for good: a 401 is not retried, and never shown as "waiting".
    expect((await statesSeen(page))['note.txt']).not.toContain('synced')
  })
})
