import { describe, expect, it } from 'vitest'
import { deps } from '../../functions/core/deps.js'
import { ApiClient, postToStorage, usePipeline } from '../fixtures/pipeline.js'

// No queue consumer or relay: these tests look at rows before anything moves them on.
const pipeline = usePipeline({ pollers: 0, schedules: { RelayOutbox: 0, SweepFiles: 0 } })
const alice = pipeline.client('alice')
const bob = pipeline.client('bob')

const outboxRows = () => deps().db.selectFrom('outbox').selectAll().execute()
const fileRow = (id: string) => deps().db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

describe('confirming uploads', () => {
  it('refuses a confirm without an upload with 409 UPLOAD_NOT_FOUND and changes nothing', async () => {
    const presign = await alice.presign({ filename: 'a.csv', external_id: 'e', file_size: 5 })
    const confirm = await alice.confirm({ file_id: presign.json.file_id, file_size: 5 })
    expect(confirm.status).toBe(409)
    expect(confirm.json.error.code).toBe('UPLOAD_NOT_FOUND')
    expect((await fileRow(presign.json.file_id)).status).toBe('PENDING')
    expect(await outboxRows()).toEqual([])
  })

  it('refuses a confirm whose size does not match the object with 409 SIZE_MISMATCH', async () => {
    const presign = await alice.presign({ filename: 'a.csv', external_id: 'e' })
    await postToStorage(presign.json, Buffer.from('0123456789'))
    const confirm = await alice.confirm({ file_id: presign.json.file_id, file_size: 11 })
    expect(confirm.status).toBe(409)
    expect(confirm.json.error).toMatchObject({ code: 'SIZE_MISMATCH', details: { expected: 11, actual: 10 } })
    expect((await fileRow(presign.json.file_id)).status).toBe('PENDING')
    expect(await outboxRows()).toEqual([])
  })

  it('treats a second confirm as a success that changes nothing', async () => {
    const { post } = await alice.upload(Buffer.from('a,b\n'))
    const first = await alice.confirm({ file_id: post.file_id, file_size: 4 })
    const uploadedAt = (await fileRow(post.file_id)).uploaded_at
    const second = await alice.confirm({ file_id: post.file_id, file_size: 4 })
    expect(first.json).toEqual(second.json)
    expect(second.json).toEqual({ confirmed: 1, files: [{ file_id: post.file_id, status: 'UPLOADED' }], failed: [] })
    expect(await outboxRows()).toHaveLength(1)
    expect((await fileRow(post.file_id)).uploaded_at).toEqual(uploadedAt)
  })

  it('writes the status change and its outbox row together, and publishes the row at once', async () => {
    const { post } = await alice.upload(Buffer.from('x'))
    await alice.confirm({ file_id: post.file_id, file_size: 1 })
    const [row] = await outboxRows()
    expect(row).toMatchObject({ file_id: post.file_id, event_type: 'file.uploaded' })
    expect(row!.published_at).toBeInstanceOf(Date)
  })

  it('confirms concurrently without a second outbox row', async () => {
    const { post } = await alice.upload(Buffer.from('abc'))
    const results = await Promise.all(Array.from({ length: 8 }, () => alice.confirm({ file_id: post.file_id, file_size: 3 })))
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200))
    expect(await outboxRows()).toHaveLength(1)
  })

  it('answers a batch with per-item results', async () => {
    const good = await alice.upload(Buffer.from('good'))
    const missing = await alice.presign({ filename: 'm.csv', external_id: 'e' })
    const unknown = '6b1f0b8e-4bb1-4c55-9a55-0d8f5d8a8c11'
    const batch = await alice.confirm({
      uploads: [
        { file_id: good.post.file_id, file_size: 4 },
        { file_id: missing.json.file_id, file_size: 4 },
        { file_id: unknown, file_size: 1 },
      ],
    })
    expect(batch.status).toBe(200)
    expect(batch.json.confirmed).toBe(1)
    expect(batch.json.files).toEqual([{ file_id: good.post.file_id, status: 'UPLOADED' }])
    expect(batch.json.failed.map((f: any) => [f.file_id, f.error.code])).toEqual([
      [missing.json.file_id, 'UPLOAD_NOT_FOUND'],
      [unknown, 'FILE_NOT_FOUND'],
    ])
  })

  it('refuses a batch of more than 100 items, and fails a repeated id as an item of its own', async () => {
    const id = '6b1f0b8e-4bb1-4c55-9a55-0d8f5d8a8c11'
    const tooMany = await alice.confirm({ uploads: Array.from({ length: 101 }, () => ({ file_id: id, file_size: 1 })) })
    expect(tooMany.status).toBe(400)
    const repeated = await alice.confirm({ uploads: [{ file_id: id, file_size: 1 }, { file_id: id, file_size: 1 }] })
    expect(repeated.status).toBe(200)
    expect(repeated.json.failed.map((f: any) => f.error.code)).toEqual(['VALIDATION_FAILED', 'FILE_NOT_FOUND'])
  })

  it("does not let one owner confirm another's file", async () => {
    const { post } = await alice.upload(Buffer.from('mine'))
    const confirm = await bob.confirm({ file_id: post.file_id, file_size: 4 })
    expect(confirm.status).toBe(404)
    expect(confirm.json.error.code).toBe('FILE_NOT_FOUND')
    expect((await fileRow(post.file_id)).status).toBe('PENDING')
  })
})

describe('listing files', () => {
  it("pages through an owner's files for an external id, newest first, and never shows another owner's", async () => {
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await alice.presign({ filename: `${i}.csv`, external_id: 'order-9' })).json.file_id)
    await alice.presign({ filename: 'other.csv', external_id: 'order-10' })
    await bob.presign({ filename: 'bob.csv', external_id: 'order-9' })

    const first = await alice.list({ external_id: 'order-9', limit: '2' })
    const second = await alice.list({ external_id: 'order-9', limit: '2', cursor: first.json.next_cursor })
    const third = await alice.list({ external_id: 'order-9', limit: '2', cursor: second.json.next_cursor })
    const seen = [...first.json.files, ...second.json.files, ...third.json.files].map((f: any) => f.id)
    expect(seen).toEqual([...ids].reverse())
    expect(third.json.next_cursor).toBeNull()
    expect((await bob.list({ external_id: 'order-9' })).json.files).toHaveLength(1)
  })

  it('pages through the files of one batch presign, which share a creation time, without skipping any', async () => {
    const batch = await alice.presign({ uploads: Array.from({ length: 7 }, (_, i) => ({ filename: `${i}.csv`, external_id: 'batch-1' })) })
    const ids: string[] = batch.json.files.map((f: any) => f.file_id)
    expect(ids).toHaveLength(7)
    const seen: string[] = []
    for (let cursor: string | undefined, pages = 0; pages < 10; pages++) {
      const page = await alice.list({ external_id: 'batch-1', limit: '2', ...(cursor ? { cursor } : {}) })
      seen.push(...page.json.files.map((f: any) => f.id))
      cursor = page.json.next_cursor ?? undefined
      if (!cursor) break
    }
    expect([...seen].sort()).toEqual([...ids].sort())
  })

  it('refuses a cursor it did not issue', async () => {
    const res = await alice.list({ cursor: 'bm90LWEtY3Vyc29y' })
    expect(res.status).toBe(400)
    expect(res.json.error.code).toBe('VALIDATION_FAILED')
  })
})

describe('health', () => {
  it('reports every dependency without a token', async () => {
    const health = await new ApiClient(pipeline.url, undefined).request('GET', '/health')
    expect(health.status).toBe(200)
    expect(health.json).toEqual({ status: 'ok', checks: { database: 'ok', cache: 'ok', storage: 'ok', queue: 'ok' } })
  })
})
