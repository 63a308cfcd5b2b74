import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError, NetworkError, UploadClient, type FileView, type RetryInfo } from '../../client/src/index.js'
import { deps } from '../../functions/core/deps.js'
import { sha256, tokenFor, usePipeline } from '../fixtures/pipeline.js'
import { startChildRuntime, type ChildRuntime } from '../fixtures/security.js'
import { tcpProxy } from '../fixtures/tcp-proxy.js'

const pipeline = usePipeline()
const MiB = 1024 ** 2

/** A library client as an integrator makes one, against the file's runtime. */
const libraryClient = async (subject: string, extra: Partial<ConstructorParameters<typeof UploadClient>[0]> = {}) =>
  new UploadClient({ baseUrl: pipeline.url, token: await tokenFor(subject), ...extra })

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

describe('the client library against the runtime', () => {
  it('uploads, waits until settled, reads, lists across pages and deletes, as the README shows', async () => {
    const api = await libraryClient('integrator')
    const bodies = ['a,b\n1,2\n', 'c,d\n3,4\n', 'e,f\n5,6\n']
    const created: string[] = []
    const uploaded: FileView[] = []
    for (const [i, body] of bodies.entries()) {
      uploaded.push(
        await api.upload(new Blob([body], { type: 'text/csv' }), {
          filename: `part-${i}.csv`,
          externalId: 'report-7',
          onUploadCreated: (upload) => created.push(upload.file_id),
        }),
      )
    }
    expect(uploaded.map((f) => f.id)).toEqual(created)
    // Confirmed: the hash stage may already have taken it further.
    expect(uploaded.every((f) => ['UPLOADED', 'SYNCING', 'SYNCED'].includes(f.status))).toBe(true)

    const updates: string[] = []
    const settled = await api.waitUntilSettled(created[0]!, { onUpdate: (f) => updates.push(f.status) })
    expect(settled).toMatchObject({ status: 'SYNCED', sha256: sha256(Buffer.from(bodies[0]!)), filename: 'part-0.csv' })
    expect(updates.at(-1)).toBe('SYNCED')
    expect(await api.getFile(created[0]!)).toMatchObject({ content: bodies[0], content_encoding: 'utf-8', download_url: null })

    // Two to a page: the iterator follows next_cursor to the third.
    const listed: string[] = []
    for await (const file of api.listFiles({ externalId: 'report-7', limit: 2 })) listed.push(file.id)
    expect(listed.sort()).toEqual([...created].sort())
    expect((await api.listFilesPage({ externalId: 'report-7', limit: 2 })).next_cursor).not.toBeNull()
    expect(await collect(api.listFiles({ externalId: 'someone-else' }))).toEqual([])

    await api.deleteFile(created[0]!)
    await api.deleteFile(created[0]!)
    const gone = await api.getFile(created[0]!).catch((e: unknown) => e)
    expect(gone).toBeInstanceOf(ApiError)
    expect(gone).toMatchObject({ status: 404, code: 'FILE_NOT_FOUND' })
    expect((await collect(api.listFiles({ externalId: 'report-7' }))).map((f) => f.id).sort()).toEqual(created.slice(1).sort())
  })

  it('resumes a multipart upload: only the parts storage lacks are sent, and the file settles with the right hash', async () => {
    const api = await libraryClient('resumer')
    const bytes = randomBytes(11 * MiB)
    const blob = new Blob([bytes])
    const upload = await api.presign({ filename: 'video.bin', external_id: 'big', content_type: 'application/octet-stream', file_size: bytes.length, multipart: true })
    if (upload.upload_type !== 'multipart') throw new Error(`expected a multipart upload, got ${upload.upload_type}`)
    expect(upload.part_count).toBeGreaterThan(1)

    // A first run sent part 1 and died.
    const [part] = await api.signParts(upload.file_id, [1])
    const first = await fetch(part!.url, { method: 'PUT', body: blob.slice(0, part!.size), headers: part!.headers })
    expect(first.status).toBe(200)

    const done: { resumedParts: number; uploadedParts: number }[] = []
    const progress: number[] = []
    const file = await api.upload(blob, {
      filename: 'video.bin',
      externalId: 'big',
      fileId: upload.file_id,
      partChecksums: true,
      onPartsDone: (result) => done.push(result),
      onProgress: (p) => progress.push(p.uploadedBytes),
    })
    expect(done).toEqual([{ partCount: upload.part_count, resumedParts: 1, uploadedParts: upload.part_count - 1 }])
    expect([progress[0], progress.at(-1)]).toEqual([part!.size, bytes.length])
    expect(file.id).toBe(upload.file_id)
    expect(await api.waitUntilSettled(file.id, { timeoutMs: 60_000 })).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes) })

    // Resuming a file already confirmed sends nothing and confirms nothing new.
    const again = await api.upload(blob, { filename: 'video.bin', externalId: 'big', fileId: upload.file_id, onPartsDone: (r) => done.push(r) })
    expect([again.status, done.length]).toEqual(['SYNCED', 1])
  })

  it('manages webhook endpoints: create (secret once), list, deliveries, rotate the secret, re-enable, delete', async () => {
    const api = await libraryClient('hooked')
    const created = await api.webhooks.create({ url: 'http://127.0.0.1:9/hooks', events: ['file.synced'], description: 'tests' })
    expect(created).toMatchObject({ url: 'http://127.0.0.1:9/hooks', events: ['file.synced'], description: 'tests', secret: expect.stringMatching(/^whsec_/) })
    expect((await api.webhooks.list()).map((w) => [w.id, w.disabled_at])).toEqual([[created.id, null]])
    expect(await api.webhooks.deliveries(created.id)).toEqual([])
    const rotated = await api.webhooks.rotateSecret(created.id)
    expect(rotated.secret).not.toBe(created.secret)
    await sql`update webhooks set disabled_at = now(), disabled_reason = 'gone' where id = ${created.id}`.execute(deps().db)
    expect((await api.webhooks.list())[0]).toMatchObject({ disabled_reason: 'gone' })
    expect(await api.webhooks.enable(created.id)).toMatchObject({ id: created.id, disabled_at: null })
    expect((await api.webhooks.list())[0]).toMatchObject({ disabled_at: null })
    await api.webhooks.delete(created.id)
    expect(await api.webhooks.list()).toEqual([])
    await expect(api.webhooks.deliveries(created.id)).rejects.toMatchObject({ status: 404, code: 'WEBHOOK_NOT_FOUND' })
    await expect(api.webhooks.create({ url: 'ftp://example.com/' })).rejects.toMatchObject({ status: 400, code: 'VALIDATION_FAILED' })
  })

  it('retries through dropped connections where a repeat is safe, and never repeats a presign that may have arrived', async () => {
    const proxy = await tcpProxy({ host: '127.0.0.1', port: Number(new URL(pipeline.url).port) })
    try {
      const retries: RetryInfo[] = []
      const api = await libraryClient('flaky', {
        baseUrl: `http://127.0.0.1:${proxy.port}`,
        onRetry: (info) => retries.push(info),
        retry: { baseDelayMs: 20 },
      })
      proxy.drop(2)
      expect(await api.listFilesPage()).toEqual({ files: [], next_cursor: null })
      expect(proxy.dropped).toBe(2)
      expect(retries.map((r) => [r.reason, r.request])).toEqual([
        ['network', 'GET /files'],
        ['network', 'GET /files'],
      ])

      const uploaded = await api.upload(new Blob(['x,y\n']), { filename: 'x.csv', externalId: 'flaky' })
      proxy.drop(1)
      const confirmed = await api.confirm(uploaded.id, 4)
      expect(confirmed.files).toEqual([{ file_id: uploaded.id, status: expect.stringMatching(/^(UPLOADED|SYNCING|SYNCED)$/) }])
      expect(retries.at(-1)).toMatchObject({ reason: 'network', request: 'POST /files/confirm-uploads' })

      // A dropped presign may have registered a file before the connection went: the library reports it instead.
      retries.length = 0
      proxy.drop(1)
      const lost = await api.presign({ filename: 'y.csv', external_id: 'flaky' }).catch((e: unknown) => e)
      expect(lost).toBeInstanceOf(NetworkError)
      expect(retries).toEqual([])
      expect((await api.listFilesPage({ externalId: 'flaky' })).files.map((f) => f.id)).toEqual([uploaded.id])
    } finally {
      await proxy.stop()
    }
  })
})

describe('the client library under a low presign limit', () => {
  const LIMIT = 3
  let runtime: ChildRuntime
  beforeAll(async () => {
    // A short fixed window, so the test waits seconds, not a minute.
    runtime = await startChildRuntime({ PRESIGN_RATE_LIMIT: String(LIMIT), PRESIGN_RATE_WINDOW_SECONDS: '2' })
  }, 120_000)
  afterAll(async () => {
    await runtime?.stop()
  })

  it('uploads more files than the limit at once, all succeeding after waiting at least the Retry-After the API advertised', async () => {
    // The answers' own Retry-After, as sent, beside what the library then waited.
    const advertised: number[] = []
    const retries: RetryInfo[] = []
    const api = new UploadClient({
      baseUrl: runtime.url,
      token: await tokenFor('folder-dropper'),
      fetch: async (input, init) => {
        const response = await fetch(input, init)
        if (response.status === 429) advertised.push(Number(response.headers.get('retry-after')) * 1000)
        return response
      },
      onRetry: (info) => retries.push(info),
    })
    // Seven at once is more than two windows' worth of a burst that spans at most one window boundary.
    const files = Array.from({ length: 2 * LIMIT + 1 }, (_, i) => `row,${i}\n`)
    const uploaded = await Promise.all(files.map((body, i) => api.upload(new Blob([body]), { filename: `f${i}.csv`, externalId: 'folder' })))
    expect(uploaded.map((f) => f.status).every((s) => ['UPLOADED', 'SYNCING', 'SYNCED'].includes(s))).toBe(true)

    const limited = retries.filter((r) => r.reason === 'rate-limited')
    expect(limited.length).toBeGreaterThanOrEqual(1)
    expect(limited.length).toBe(advertised.length)
    expect(retries.filter((r) => r.reason !== 'rate-limited')).toEqual([])
    for (const info of limited) {
      expect(info).toMatchObject({ status: 429, request: 'POST /files/presigned-upload' })
      expect(info.retryAfterMs).toBeGreaterThanOrEqual(1_000)
      expect(advertised).toContain(info.retryAfterMs)
      expect(info.delayMs).toBeGreaterThanOrEqual(info.retryAfterMs!)
    }

    const settled = await Promise.all(uploaded.map((f) => api.waitUntilSettled(f.id, { timeoutMs: 60_000 })))
    expect(settled.map((f) => [f.filename, f.status, f.sha256])).toEqual(files.map((body, i) => [`f${i}.csv`, 'SYNCED', sha256(Buffer.from(body))]))
  })
})
