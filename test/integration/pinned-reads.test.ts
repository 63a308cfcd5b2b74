import { createHash, randomBytes } from 'node:crypto'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { contentKey } from '../../functions/core/cache.js'
import { deps } from '../../functions/core/deps.js'
import { handler as hashFile } from '../../functions/hash-file.js'
import { sqsEvent } from '../fixtures/events.js'
import { lambdaContext } from '../../bin/local/events.js'
import { queueConsumers } from '../../lib/routes.js'
import { functionSettings } from '../../lib/settings.js'
import { postToStorage, sha256, usePipeline } from '../fixtures/pipeline.js'

// No pollers: each test runs the hash function itself, so an object can be replaced between confirm and hash.
const pipeline = usePipeline({ pollers: 0 })
const api = pipeline.client('alice')
const redis = new Redis(process.env.REDIS_URL!)
const s3 = new S3Client({ region: process.env.AWS_REGION, endpoint: process.env.AWS_ENDPOINT_URL, forcePathStyle: true })
afterAll(() => {
  redis.disconnect()
  s3.destroy()
})

async function hashNow(fileId: string) {
  const response = await hashFile(sqsEvent([{ body: JSON.stringify({ event: 'file.uploaded', file_id: fileId, outbox_id: '1' }) }]), lambdaContext('HashFile', functionSettings(queueConsumers[0])))
  expect(response).toEqual({ batchItemFailures: [] })
}

async function objectKeyOf(fileId: string): Promise<string> {
  const row = await deps().db.selectFrom('files').select('object_key').where('id', '=', fileId).executeTakeFirstOrThrow()
  return row.object_key
}

/** The object's current bytes, as anyone reading the key without a version would get them. */
async function currentBytes(key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: process.env.FILES_BUCKET_NAME!, Key: key }))
  return Buffer.from(await object.Body!.transformToByteArray())
}

async function syncedUpload(bytes: Buffer, input: Record<string, unknown>) {
  const { post, stored } = await api.upload(bytes, input)
  expect(stored.status).toBe(204)
  expect((await api.confirm({ file_id: post.file_id, file_size: bytes.length })).status).toBe(200)
  await hashNow(post.file_id)
  const synced = await api.getFile(post.file_id)
  expect(synced.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes) })
  return post
}

describe('the bytes served are the bytes hashed', () => {
  it('keeps serving the hashed bytes after the same presigned POST stores other bytes of the same size', async () => {
    const original = Buffer.from('id,name\n1,ada\n')
    const post = await syncedUpload(original, { filename: 'a.csv', external_id: 'e' })

    const other = Buffer.from('id,name\n6,eve\n')
    expect(other.length).toBe(original.length)
    expect((await postToStorage(post, other)).status).toBe(204)
    expect(await currentBytes(await objectKeyOf(post.file_id))).toEqual(other)

    await redis.del(contentKey(post.file_id))
    const miss = await api.getFile(post.file_id)
    expect(miss.headers.get('x-cache')).toBe('MISS')
    expect(miss.json).toMatchObject({ content: original.toString('utf8'), file: { sha256: sha256(original), file_size: original.length } })
    expect(await redis.getBuffer(contentKey(post.file_id))).toEqual(original)
  })

  it('never reads past the confirmed size when an undeclared-size POST is replaced by 8 MiB', async () => {
    const original = Buffer.from('id,name\n1,ada\n')
    const post = await syncedUpload(original, { filename: 'a.csv', external_id: 'e', file_size: undefined })
    expect(post.max_file_size).toBeGreaterThan(8 * 1024 * 1024)

    const larger = Buffer.alloc(8 * 1024 * 1024, 'x')
    expect((await postToStorage(post, larger)).status).toBe(204)
    expect((await currentBytes(await objectKeyOf(post.file_id))).length).toBe(larger.length)

    await redis.del(contentKey(post.file_id))
    const miss = await api.getFile(post.file_id)
    expect(miss.json.content).toBe(original.toString('utf8'))
    expect(miss.json.file.file_size).toBe(original.length)
    expect(miss.text.length).toBeLessThan(2048)
  })

  it('serves the confirmed version through download_url after the key is overwritten', async () => {
    const original = randomBytes(deps().config.cacheMaxBytes + 1)
    const post = await syncedUpload(original, { filename: 'big.bin', external_id: 'e', content_type: 'application/octet-stream' })

    const other = randomBytes(original.length)
    expect((await postToStorage(post, other)).status).toBe(204)

    const res = await api.getFile(post.file_id)
    expect(res.json.content).toBeNull()
    const download = await fetch(res.json.download_url)
    expect(download.status).toBe(200)
    const hash = createHash('sha256')
    for await (const chunk of download.body!) hash.update(chunk)
    expect(hash.digest('hex')).toBe(sha256(original))
  })

  it('hashes the confirmed version when the object is replaced between confirm and hash', async () => {
    const original = Buffer.from('id,name\n1,ada\n')
    const { post } = await api.upload(original, { filename: 'a.csv', external_id: 'e' })
    expect((await api.confirm({ file_id: post.file_id, file_size: original.length })).status).toBe(200)

    const key = await objectKeyOf(post.file_id)
    const replacement = Buffer.alloc(3 * 1024 * 1024, 'y')
    await s3.send(new PutObjectCommand({ Bucket: process.env.FILES_BUCKET_NAME!, Key: key, Body: replacement, ContentType: 'text/csv' }))
    await hashNow(post.file_id)

    const res = await api.getFile(post.file_id)
    expect(res.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(original), file_size: original.length })
    expect(res.json.content).toBe(original.toString('utf8'))
  })
})
