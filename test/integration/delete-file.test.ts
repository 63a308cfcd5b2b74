import { randomUUID } from 'node:crypto'
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { Redis } from 'ioredis'
import { sql } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { contentKey } from '../../functions/core/cache.js'
import { purgeDeletedFiles } from '../../functions/core/delete-file.js'
import { deps } from '../../functions/core/deps.js'
import { claimForSync, findFile, markFailed, markSynced } from '../../functions/core/files.repository.js'
import { createObjectStore } from '../../functions/core/storage.js'
import { postToStorage, usePipeline } from '../fixtures/pipeline.js'
import { s3Client } from '../fixtures/security.js'

const pipeline = usePipeline()
const alice = pipeline.client('alice')
const mallory = pipeline.client('mallory')
const s3 = s3Client()
afterAll(() => s3.destroy())

const bucket = () => process.env.FILES_BUCKET_NAME!
const versionsOf = async (key: string, bucketName = bucket()) => {
  const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucketName, Prefix: key }))
  return [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].filter((v) => v.Key === key)
}
const cached = async (id: string): Promise<Buffer | null> => {
  const redis = new Redis(process.env.REDIS_URL!)
  try {
    return await redis.getBuffer(contentKey(id))
  } finally {
    redis.disconnect()
  }
}
const deletedEvents = async (id: string) =>
  deps().db.selectFrom('outbox').select(['payload']).where('file_id', '=', id).where('event_type', '=', 'file.deleted').execute()

async function syncedFile(bytes = Buffer.from('id,name\n1,a\n')) {
  const { post } = await alice.upload(bytes)
  expect((await alice.confirm({ file_id: post.file_id, file_size: bytes.length })).status).toBe(200)
  await alice.waitForStatus(post.file_id, ['SYNCED'])
  expect((await alice.getFile(post.file_id)).json.content).toBe(bytes.toString())
  return post
}

describe('DELETE /files/{id}', () => {
  it('removes the object, the cache entry and the filename, and every route then answers 404', async () => {
    const post = await syncedFile()
    const key = post.form_fields.key!
    expect(await cached(post.file_id)).not.toBeNull()

    const res = await alice.deleteFile(post.file_id)
    expect(res.status).toBe(204)
    expect(res.text).toBe('')

    expect(await versionsOf(key)).toEqual([])
    expect((await deps().cache.get(post.file_id))).toBeUndefined()
    const row = await findFile(deps().db, post.file_id)
    expect(row).toMatchObject({ status: 'DELETED', filename: '', sha256: null })
    expect((await deps().db.selectFrom('files').select('purged_at').where('id', '=', post.file_id).executeTakeFirstOrThrow()).purged_at).not.toBeNull()

    const get = await alice.getFile(post.file_id)
    expect(get.status).toBe(404)
    expect(get.json.error.code).toBe('FILE_NOT_FOUND')
    const confirm = await alice.confirm({ file_id: post.file_id, file_size: 12 })
    expect(confirm.status).toBe(404)
    expect(confirm.json.error.code).toBe('FILE_NOT_FOUND')
    expect((await alice.list()).json.files).toEqual([])

    expect((await alice.deleteFile(post.file_id)).status).toBe(204)
    expect(await deletedEvents(post.file_id)).toHaveLength(1)
  })

  it("answers another owner's file, and a missing one, with 404 and leaves it alone", async () => {
    const post = await syncedFile()
    const res = await mallory.deleteFile(post.file_id)
    expect(res.status).toBe(404)
    expect(res.json.error.code).toBe('FILE_NOT_FOUND')
    expect((await mallory.deleteFile(randomUUID())).status).toBe(404)
    expect((await alice.getFile(post.file_id)).json.file.status).toBe('SYNCED')
    expect(await deletedEvents(post.file_id)).toEqual([])
  })

  it('answers a malformed id with 400', async () => {
    const res = await alice.deleteFile('not-a-uuid')
    expect(res.status).toBe(400)
    expect(res.json.error.code).toBe('VALIDATION_FAILED')
  })

  it('deletes twice at once: both answer 204, one event, one tombstone', async () => {
    const post = await syncedFile()
    const results = await Promise.all([alice.deleteFile(post.file_id), alice.deleteFile(post.file_id), alice.deleteFile(post.file_id)])
    expect(results.map((r) => r.status)).toEqual([204, 204, 204])
    expect(await deletedEvents(post.file_id)).toHaveLength(1)
    expect(await versionsOf(post.form_fields.key!)).toEqual([])
  })

  it('wins over a hash in flight: the late result neither moves the row nor re-caches the bytes', async () => {
    const bytes = Buffer.from('late,hash\n')
    const { post } = await alice.upload(bytes)
    // Confirm through the database only, so the runtime's consumer does not race this test's claim.
    await deps().db.updateTable('files').set({ status: 'UPLOADED', file_size: bytes.length }).where('id', '=', post.file_id).execute()
    const claim = (await claimForSync(deps().db, post.file_id, 60))!
    expect(claim.status).toBe('SYNCING')

    expect((await alice.deleteFile(post.file_id)).status).toBe(204)

    // What the hash does when it finishes: cache the bytes, then record SYNCED for its claim.
    expect(await deps().cache.set(post.file_id, bytes)).toBe(false)
    expect(await markSynced(deps().db, claim, 'd'.repeat(64))).toBe(false)
    expect(await markFailed(deps().db, claim, 'SYNCING', 'RETRIES_EXHAUSTED', 'late')).toBe(false)
    expect(await claimForSync(deps().db, post.file_id, 0)).toBeUndefined()

    expect(await deps().cache.get(post.file_id)).toBeUndefined()
    expect((await findFile(deps().db, post.file_id))!.status).toBe('DELETED')
    expect((await alice.getFile(post.file_id)).status).toBe(404)
    const events = await deps().db.selectFrom('outbox').select('event_type').where('file_id', '=', post.file_id).execute()
    expect(events.map((e) => e.event_type)).toEqual(['file.deleted'])
  })

  it('aborts an unfinished multipart upload of the file, parts and all', async () => {
    const presign = await alice.presign({ filename: 'big.bin', external_id: 'mp', content_type: 'application/octet-stream', file_size: 6 * 1024 ** 2 })
    const key = presign.json.form_fields.key as string
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket(), Key: key }))
    await s3.send(new UploadPartCommand({ Bucket: bucket(), Key: key, UploadId, PartNumber: 1, Body: Buffer.alloc(5 * 1024 ** 2, 1) }))

    expect((await alice.deleteFile(presign.json.file_id)).status).toBe(204)
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket(), Prefix: key }))
    expect(uploads.Uploads ?? []).toEqual([])
    expect(await versionsOf(key)).toEqual([])
  })

  it('purges again once the upload window closes, so a late upload with the old form does not survive', async () => {
    const bytes = Buffer.from('late,upload\n')
    const presign = await alice.presign({ filename: 'late.csv', external_id: 'late', file_size: bytes.length })
    expect((await alice.deleteFile(presign.json.file_id)).status).toBe(204)

    // The client still holds a valid form and uploads after the delete.
    expect((await postToStorage(presign.json, bytes)).status).toBeLessThan(300)
    const key = presign.json.form_fields.key as string
    expect(await versionsOf(key)).toHaveLength(1)

    expect(await purgeDeletedFiles(deps(), 100)).toBe(0)
    // Time passes: the purge happened while the form was valid, and the form has since expired.
    await sql`update files set purged_at = now() - interval '2 seconds', upload_expires_at = now() - interval '1 second' where id = ${presign.json.file_id}`.execute(deps().db)
    expect(await purgeDeletedFiles(deps(), 100)).toBe(1)
    expect(await versionsOf(key)).toEqual([])
    expect(await purgeDeletedFiles(deps(), 100)).toBe(0)
  })

  it('erases every version and delete marker of a key in a versioned bucket', async () => {
    const name = `erase-test-${process.pid}-${Date.now()}`
    await s3.send(new CreateBucketCommand({ Bucket: name }))
    await s3.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }))
    const key = 'uploads/x/y'
    for (const body of ['one', 'two', 'three']) await s3.send(new PutObjectCommand({ Bucket: name, Key: key, Body: body }))
    await s3.send(new PutObjectCommand({ Bucket: name, Key: `${key}-neighbour`, Body: 'keep' }))
    expect(await versionsOf(key, name)).toHaveLength(3)

    await createObjectStore(s3, name).erase(key)
    expect(await versionsOf(key, name)).toEqual([])
    expect(await versionsOf(`${key}-neighbour`, name)).toHaveLength(1)

    await createObjectStore(s3, name).erase(`${key}-neighbour`)
    await s3.send(new DeleteBucketCommand({ Bucket: name }))
  })
})
