import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ApiClient, resetState, tokenFor } from '../../fixtures/pipeline.js'
import { fileCount, startChildRuntime, type ChildRuntime } from '../../fixtures/security.js'

const RATE_LIMIT = 3
// A window of a day: the limiter's fixed window cannot roll over in the middle of the test.
const RATE_WINDOW_SECONDS = 86_400
const INLINE_CAP = 64

let runtime: ChildRuntime

beforeAll(async () => {
  // Settings the shared in-process runtime does not have: the configuration is read once per process.
  runtime = await startChildRuntime({
    PRESIGN_RATE_LIMIT: String(RATE_LIMIT),
    PRESIGN_RATE_WINDOW_SECONDS: String(RATE_WINDOW_SECONDS),
    // HTML and SVG are allowed here only to show what a download of them looks like.
    ALLOWED_CONTENT_TYPES: 'text/csv,text/html,image/svg+xml,application/octet-stream',
    CACHE_MAX_BYTES: String(INLINE_CAP),
  })
}, 120_000)
afterAll(async () => {
  await runtime?.stop()
})
beforeEach(resetState)

const client = async (subject: string) => new ApiClient(runtime.url, await tokenFor(subject))

describe('per-owner presign rate limit', () => {
  it('answers 429 with Retry-After once an owner exceeds the limit, stores nothing for it, and leaves other owners alone', async () => {
    const greedy = await client('greedy')
    for (let i = 0; i < RATE_LIMIT; i++) {
      expect((await greedy.presign({ filename: `f${i}.csv`, external_id: 'e' })).status).toBe(201)
    }
    const before = await fileCount()

    const limited = await greedy.presign({ filename: 'one-too-many.csv', external_id: 'e' })
    expect(limited.status).toBe(429)
    expect(limited.json.error.code).toBe('RATE_LIMITED')
    const retryAfter = Number(limited.headers.get('retry-after'))
    expect(Number.isInteger(retryAfter)).toBe(true)
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(RATE_WINDOW_SECONDS)
    expect(await fileCount()).toBe(before)

    expect((await (await client('patient')).presign({ filename: 'mine.csv', external_id: 'e' })).status).toBe(201)
    expect((await greedy.list()).status).toBe(200)
  })

  it('counts files, not requests: a batch is charged per valid item and refused as a whole, and a refusal costs nothing', async () => {
    const folder = await client('folder')
    const item = (name: string) => ({ filename: name, external_id: 'e' })
    const first = await folder.presign({ uploads: [item('a.csv'), { ...item('b.png'), content_type: 'image/png' }, item('b.csv')] })
    expect(first.status).toBe(200)
    expect(first.json.files).toHaveLength(2)
    const before = await fileCount()

    const over = await folder.presign({ uploads: [item('c.csv'), item('d.csv')] })
    expect(over.status).toBe(429)
    expect(over.json.error.code).toBe('RATE_LIMITED')
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(await fileCount()).toBe(before)

    // The refused batch was refunded: one more file still fits in the budget of three.
    expect((await folder.presign(item('c.csv'))).status).toBe(201)
    expect((await folder.presign(item('d.csv'))).status).toBe(429)
  })

  it('counts a refused presign against nobody: invalid input is rejected before the limiter', async () => {
    const careless = await client('careless')
    for (let i = 0; i < RATE_LIMIT + 2; i++) {
      expect((await careless.presign({ filename: '../x', external_id: 'e' })).status).toBe(400)
    }
    expect((await careless.presign({ filename: 'ok.csv', external_id: 'e' })).status).toBe(201)
  })
})

describe('safe downloads of active content', () => {
  async function uploadAndSync(api: ApiClient, body: string, filename: string, contentType: string) {
    const bytes = Buffer.from(body)
    const { post, stored } = await api.upload(bytes, { filename, content_type: contentType })
    expect(stored.status).toBe(204)
    expect((await api.confirm({ file_id: post.file_id, file_size: bytes.length })).status).toBe(200)
    const synced = await api.waitForStatus(post.file_id)
    expect(synced.json.file.status).toBe('SYNCED')
    return synced
  }

  const activeFiles = [
    {
      kind: 'HTML',
      filename: 'report "final"; x=1.html',
      contentType: 'text/html',
      body: `<html><body><script>fetch('/files').then(r => r.text()).then(alert)</script>${'x'.repeat(INLINE_CAP)}</body></html>`,
      asciiName: 'report _final__ x=1.html',
    },
    {
      kind: 'SVG',
      filename: 'résumé.svg',
      contentType: 'image/svg+xml',
      body: `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)"><!--${'x'.repeat(INLINE_CAP)}--></svg>`,
      asciiName: 'r_sum_.svg',
    },
  ]

  it.each(activeFiles)(
    'serves a large $kind upload from storage as an attachment of type application/octet-stream',
    async ({ filename, contentType, body, asciiName }) => {
      const api = await client('downloader')
      const synced = await uploadAndSync(api, body, filename, contentType)
      expect(synced.json.content).toBeNull()
      const url = synced.json.download_url as string
      expect(url).toEqual(expect.stringContaining('X-Amz-Signature='))

      const download = await fetch(url)
      expect(download.status).toBe(200)
      expect(download.headers.get('content-type')).toBe('application/octet-stream')
      expect(download.headers.get('content-disposition')).toBe(
        `attachment; filename="${asciiName}"; filename*=UTF-8''${encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`,
      )
      expect(await download.text()).toBe(body)
    },
  )

  it('returns a small HTML upload inside a JSON document, which a browser does not render', async () => {
    const api = await client('downloader')
    const body = '<script>alert(1)</script>'
    expect(body.length).toBeLessThanOrEqual(INLINE_CAP)
    const synced = await uploadAndSync(api, body, 'tiny.html', 'text/html')
    expect(synced.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(synced.json).toMatchObject({ content: body, content_encoding: 'utf-8', download_url: null })
  })

  it('lets no one else fetch a download URL for the file', async () => {
    const owner = await client('downloader')
    const synced = await uploadAndSync(owner, `<p>${'x'.repeat(INLINE_CAP)}</p>`, 'page.html', 'text/html')
    const stranger = await client('stranger')
    const res = await stranger.getFile(synced.json.file.id)
    expect(res.status).toBe(404)
    expect(res.text).not.toContain('X-Amz-Signature')
  })
})
