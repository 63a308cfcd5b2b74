import { createHash, randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { blobSource, uploadParts, UploadClient } from '../../client/src/index.js'
import { loadConfig } from '../../functions/core/config.js'
import { createDeps, deps } from '../../functions/core/deps.js'
import { FILE_UPLOADED } from '../../functions/core/outbox.js'
import { signParts } from '../../functions/core/parts.js'
import { sweepFiles } from '../../functions/core/sweeper.js'
import { mustBePost, postToStorage, sha256, usePipeline } from '../fixtures/pipeline.js'

const MiB = 1024 ** 2
const pipeline = usePipeline({ pollers: 1 })
const alice = pipeline.client('alice')
const bob = pipeline.client('bob')

const partsApi = () => new UploadClient({ baseUrl: pipeline.url, token: alice.token! })
const row = (id: string) => deps().db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
const outboxRows = (id: string) =>
  deps().db.selectFrom('outbox').selectAll().where('file_id', '=', id).where('event_type', '=', FILE_UPLOADED).execute()

/** 8 MiB parts (the default plan): 20 MiB + 5 bytes is parts of 8, 8 and 4 MiB + 5. */
const SIZE = 20 * MiB + 5

async function presignMultipart(bytes: Uint8Array, extra: Record<string, unknown> = {}) {
  const res = await alice.presign({
    filename: 'big.bin',
    external_id: 'mp',
    content_type: 'application/octet-stream',
    file_size: bytes.length,
    multipart: true,
    ...extra,
  })
  expect(res.status, res.text).toBe(201)
  return res.json as { file_id: string; upload_type: string; part_size: number; part_count: number }
}

const sign = async (fileId: string, partNumbers: number[], sha?: Record<string, string>) => {
  const res = await alice.request('POST', `/files/${fileId}/parts`, { part_numbers: partNumbers, ...(sha ? { sha256: sha } : {}) })
  expect(res.status, res.text).toBe(200)
  return res.json.parts as { part_number: number; size: number; url: string; headers: Record<string, string> }[]
}

const put = async (url: string, body: Uint8Array, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { method: 'PUT', body, headers })
  return { status: res.status, etag: res.headers.get('etag'), body: await res.text() }
}

const slice = (bytes: Uint8Array, n: number, partSize = 8 * MiB) => bytes.subarray((n - 1) * partSize, n * partSize)

describe('a multipart upload', () => {
  it('goes from presign through parts and confirm to SYNCED with the SHA-256 of the whole file', async () => {
    const bytes = randomBytes(SIZE)
    const presigned = await presignMultipart(bytes)
    expect(presigned).toMatchObject({ upload_type: 'multipart', part_size: 8 * MiB, part_count: 3, max_file_size: SIZE })
    expect(presigned).not.toHaveProperty('upload_url')

    const result = await uploadParts({ fileId: presigned.file_id, source: blobSource(new Blob([bytes])), api: partsApi(), concurrency: 3, checksums: true })
    expect(result).toEqual({ partCount: 3, resumedParts: 0, uploadedParts: 3 })

    const confirm = await alice.confirm({ file_id: presigned.file_id, file_size: SIZE })
    expect(confirm.status, confirm.text).toBe(200)
    expect(confirm.json.files).toEqual([{ file_id: presigned.file_id, status: 'UPLOADED' }])
    const synced = await alice.waitForStatus(presigned.file_id, ['SYNCED', 'FAILED'], 60_000)
    expect(synced.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes), file_size: SIZE })

    // The object carries the type and file id bound when the server started the upload.
    const download = await fetch(synced.json.download_url)
    expect(createHash('sha256').update(Buffer.from(await download.arrayBuffer())).digest('hex')).toBe(sha256(bytes))
    // Confirming again changes nothing.
    const again = await alice.confirm({ file_id: presigned.file_id, file_size: SIZE })
    expect(again.json.files).toEqual([{ file_id: presigned.file_id, status: 'SYNCED' }])
    expect(await outboxRows(presigned.file_id)).toHaveLength(1)
  })

  it('resumes from the parts storage already holds, sending only the rest', async () => {
    const bytes = randomBytes(SIZE)
    const { file_id } = await presignMultipart(bytes)
    const [one, three] = await sign(file_id, [1, 3])
    expect((await put(one!.url, slice(bytes, 1))).status).toBe(200)
    expect((await put(three!.url, slice(bytes, 3))).status).toBe(200)

    const listed = await alice.request('GET', `/files/${file_id}/parts`)
    expect(listed.status).toBe(200)
    expect(listed.json).toMatchObject({ part_size: 8 * MiB, part_count: 3 })
    expect(listed.json.parts.map((p: { part_number: number; size: number }) => [p.part_number, p.size])).toEqual([
      [1, 8 * MiB],
      [3, 4 * MiB + 5],
    ])

    const sent: number[] = []
    const result = await uploadParts({
      fileId: file_id,
      source: blobSource(new Blob([bytes])),
      api: partsApi(),
      onProgress: (p) => sent.push(p.partsDone),
    })
    expect(result).toEqual({ partCount: 3, resumedParts: 2, uploadedParts: 1 })
    expect(sent).toEqual([2, 3])
    expect((await alice.confirm({ file_id, file_size: SIZE })).status).toBe(200)
    const synced = await alice.waitForStatus(file_id, ['SYNCED', 'FAILED'], 60_000)
    expect(synced.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes) })
  })

  it('has the part length signed into its URL, so storage refuses a part of another length', async () => {
    const bytes = randomBytes(SIZE)
    const { file_id } = await presignMultipart(bytes)
    const [part] = await sign(file_id, [1])
    expect(part!.size).toBe(8 * MiB)
    expect(new URL(part!.url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;host')
    const short = await put(part!.url, slice(bytes, 1).subarray(1))
    expect(short.status).toBe(403)
    expect(short.body).toContain('SignatureDoesNotMatch')
    const listed = await alice.request('GET', `/files/${file_id}/parts`)
    expect(listed.json.parts).toEqual([])
  })

  it('refuses a part whose bytes differ from the SHA-256 signed into its URL', async () => {
    const bytes = randomBytes(SIZE)
    const { file_id } = await presignMultipart(bytes)
    const digest = createHash('sha256').update(slice(bytes, 1)).digest('hex')
    const [part] = await sign(file_id, [1], { '1': digest })
    expect(part!.headers).toEqual({ 'x-amz-checksum-sha256': Buffer.from(digest, 'hex').toString('base64') })
    const corrupted = Buffer.from(slice(bytes, 1))
    corrupted[0]! ^= 0xff
    const refused = await put(part!.url, corrupted, part!.headers)
    expect(refused.status).toBe(400)
    expect(refused.body).toContain('BadDigest')
    expect((await put(part!.url, slice(bytes, 1), part!.headers)).status).toBe(200)
  })

  it('refuses an expired part URL, and accepts the part through a freshly signed one', async () => {
    const bytes = randomBytes(SIZE)
    const { file_id } = await presignMultipart(bytes)
    const shortLived = createDeps(loadConfig({ ...process.env, PART_URL_TTL_SECONDS: '1', DATABASE_POOL_MAX: '1' }))
    try {
      const { parts } = await signParts(shortLived, 'alice', file_id, { part_numbers: [1] })
      await sleep(2_100)
      const late = await put(parts[0]!.url, slice(bytes, 1))
      expect(late.status).toBe(403)
      expect(late.body).toContain('Request has expired')
    } finally {
      await shortLived.close()
    }
    const [fresh] = await sign(file_id, [1])
    const stored = await put(fresh!.url, slice(bytes, 1))
    expect(stored.status).toBe(200)
    expect(stored.etag).toMatch(/^"[0-9a-f]{32}"$/)
  })

  it('answers a confirm with parts missing or of the wrong size with 409 UPLOAD_INCOMPLETE, and changes nothing', async () => {
    const bytes = randomBytes(SIZE)
    const { file_id } = await presignMultipart(bytes)
    const [one] = await sign(file_id, [1])
    expect((await put(one!.url, slice(bytes, 1))).status).toBe(200)

    const single = await alice.confirm({ file_id, file_size: SIZE })
    expect(single.status).toBe(409)
    expect(single.json.error).toMatchObject({ code: 'UPLOAD_INCOMPLETE', details: { missing: [2, 3], wrong_size: [] } })
    const batch = await alice.confirm({ uploads: [{ file_id, file_size: SIZE }] })
    expect(batch.status).toBe(200)
    expect(batch.json.failed).toEqual([
      { file_id, error: expect.objectContaining({ code: 'UPLOAD_INCOMPLETE', details: { missing: [2, 3], wrong_size: [] } }) },
    ])

    expect(await row(file_id)).toMatchObject({ status: 'PENDING', file_size: null, uploaded_at: null })
    expect(await outboxRows(file_id)).toEqual([])
    // The upload is still open and holds its part: the client carries on.
    const listed = await alice.request('GET', `/files/${file_id}/parts`)
    expect(listed.json.parts.map((p: { part_number: number }) => p.part_number)).toEqual([1])
  })

  it('is assembled once when two confirms race, with one event', async () => {
    const bytes = randomBytes(SIZE)
    const { file_id } = await presignMultipart(bytes)
    await uploadParts({ fileId: file_id, source: blobSource(new Blob([bytes])), api: partsApi(), concurrency: 3 })

    const [a, b] = await Promise.all([alice.confirm({ file_id, file_size: SIZE }), alice.confirm({ file_id, file_size: SIZE })])
    expect([a.status, b.status], `${a.text} ${b.text}`).toEqual([200, 200])
    expect([a.json.confirmed, b.json.confirmed]).toEqual([1, 1])
    expect(await outboxRows(file_id)).toHaveLength(1)
    const synced = await alice.waitForStatus(file_id, ['SYNCED', 'FAILED'], 60_000)
    expect(synced.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes) })
  })

  it("answers another owner's parts routes and confirm exactly like a missing file", async () => {
    const bytes = randomBytes(SIZE)
    const { file_id } = await presignMultipart(bytes)
    const signed = await bob.request('POST', `/files/${file_id}/parts`, { part_numbers: [1] })
    const listed = await bob.request('GET', `/files/${file_id}/parts`)
    const confirmed = await bob.confirm({ file_id, file_size: SIZE })
    const missing = await alice.request('GET', `/files/${crypto.randomUUID()}/parts`)
    for (const res of [signed, listed, confirmed, missing]) {
      expect(res.status).toBe(404)
      expect(res.json).toEqual({ error: { code: 'FILE_NOT_FOUND', message: 'File not found' } })
    }
  })

  it('refuses part numbers outside the plan, parts of a POST upload, and multipart without a size', async () => {
    const bytes = randomBytes(SIZE)
    const { file_id } = await presignMultipart(bytes)
    const beyond = await alice.request('POST', `/files/${file_id}/parts`, { part_numbers: [4] })
    expect([beyond.status, beyond.json.error.code]).toEqual([409, 'INVALID_STATE'])
    const repeated = await alice.request('POST', `/files/${file_id}/parts`, { part_numbers: [1, 1] })
    expect([repeated.status, repeated.json.error.code]).toEqual([400, 'VALIDATION_FAILED'])

    const post = await alice.presign({ filename: 'small.csv', external_id: 'mp', file_size: 3 })
    expect(post.json.upload_type).toBe('post')
    const parts = await alice.request('POST', `/files/${post.json.file_id}/parts`, { part_numbers: [1] })
    expect([parts.status, parts.json.error.code]).toEqual([409, 'INVALID_STATE'])

    const sizeless = await alice.presign({ filename: 'x.bin', external_id: 'mp', multipart: true })
    expect([sizeless.status, sizeless.json.error.code]).toEqual([400, 'VALIDATION_FAILED'])
  })

  it('answers a 6 GiB presign as multipart within 10,000 parts of at least 5 MiB', async () => {
    const res = await alice.presign({ filename: 'huge.bin', external_id: 'mp', file_size: 6 * 1024 ** 3 })
    expect(res.status, res.text).toBe(201)
    expect(res.json).toMatchObject({ upload_type: 'multipart', part_size: 8 * MiB, part_count: 768, max_file_size: 6 * 1024 ** 3 })
    const [last] = await sign(res.json.file_id, [768])
    expect(last!.size).toBe(6 * 1024 ** 3 - 767 * 8 * MiB)
  })
})

describe('the sweeper and multipart uploads', () => {
  it('aborts the upload of a file it expires, and stray uploads no live file is assembled from', async () => {
    const bytes = randomBytes(SIZE)
    const { file_id } = await presignMultipart(bytes)
    const [one] = await sign(file_id, [1])
    expect((await put(one!.url, slice(bytes, 1))).status).toBe(200)
    const live = await presignMultipart(bytes)
    const { storage } = deps()
    const strayKey = `uploads/stray/${crypto.randomUUID()}`
    const strayId = await storage.createMultipart(strayKey, { contentType: 'application/octet-stream', fileId: 'none' })

    const grace = deps().config.expiryGraceSeconds
    await sql`update files set upload_expires_at = now() - make_interval(secs => ${grace + 1}) where id = ${file_id}`.execute(deps().db)
    // With no grace, the stray (whose row never existed) is old enough to go at once.
    const sweeper = createDeps(loadConfig({ ...process.env, EXPIRY_GRACE_SECONDS: '0', DATABASE_POOL_MAX: '1' }))
    try {
      await sleep(1_100)
      const result = await sweepFiles(sweeper)
      expect(result).toMatchObject({ expired: 1 })
      expect(result.aborted).toBeGreaterThanOrEqual(2)
    } finally {
      await sweeper.close()
    }
    const expired = await row(file_id)
    expect(expired.status).toBe('EXPIRED')
    expect(await storage.listParts(expired.object_key, expired.upload_id!)).toBeUndefined()
    expect(await storage.listParts(strayKey, strayId)).toBeUndefined()
    const kept = await row(live.file_id)
    expect(await storage.listParts(kept.object_key, kept.upload_id!)).toEqual([])
  })
})

describe('a declared SHA-256', () => {
  it('makes storage refuse a POST of other bytes, and accept the declared ones', async () => {
    const bytes = Buffer.from('id,name\n1,ada\n')
    const other = Buffer.from('id,name\n1,bob\n')
    const presign = await alice.presign({ filename: 'p.csv', external_id: 'sha', file_size: bytes.length, sha256: sha256(bytes) })
    const post = mustBePost(presign.json)
    const refused = await postToStorage(post, other)
    expect(refused.status).toBe(400)
    expect(refused.body).toContain('x-amz-checksum-sha256')
    expect(await deps().storage.head(post.form_fields.key!)).toBeUndefined()

    expect((await postToStorage(post, bytes)).status).toBe(204)
    expect((await alice.confirm({ file_id: post.file_id, file_size: bytes.length })).status).toBe(200)
    const synced = await alice.waitForStatus(post.file_id)
    expect(synced.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes) })
  })
})
