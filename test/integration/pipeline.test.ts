import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { deps } from '../../functions/core/deps.js'
import { contentKey } from '../../functions/core/cache.js'
import { sha256, usePipeline } from '../fixtures/pipeline.js'
import { Redis } from 'ioredis'

const pipeline = usePipeline()
const api = pipeline.client('alice')

describe('the pipeline from presign to SYNCED', () => {
  it('hashes an uploaded CSV, serves it from storage on a miss and from the cache on the next read', async () => {
    const bytes = Buffer.from('id,name\n1,ada\n2,grace\n')
    const { post, stored } = await api.upload(bytes, { filename: 'people.csv', external_id: 'batch-7' })
    expect(stored.status).toBe(204)

    const confirm = await api.confirm({ file_id: post.file_id, file_size: bytes.length })
    expect(confirm.status).toBe(200)
    expect(confirm.json).toEqual({ confirmed: 1, files: [{ file_id: post.file_id, status: 'UPLOADED' }], failed: [] })

    const synced = await api.waitForStatus(post.file_id)
    expect(synced.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes), file_size: bytes.length, filename: 'people.csv' })

    const redis = new Redis(process.env.REDIS_URL!)
    await redis.del(contentKey(post.file_id))
    const miss = await api.getFile(post.file_id)
    expect(miss.headers.get('x-cache')).toBe('MISS')
    expect(miss.json).toMatchObject({ content: bytes.toString('utf8'), content_encoding: 'utf-8', download_url: null })
    expect(await redis.ttl(contentKey(post.file_id))).toBeGreaterThan(86_000)
    redis.disconnect()

    const hit = await api.getFile(post.file_id)
    expect(hit.headers.get('x-cache')).toBe('HIT')
    expect(hit.json.content).toBe(bytes.toString('utf8'))
  })

  it('returns binary content base64-encoded', async () => {
    const bytes = randomBytes(2048)
    const { post } = await api.upload(bytes, { filename: 'blob.bin', content_type: 'application/octet-stream' })
    await api.confirm({ file_id: post.file_id, file_size: bytes.length })
    const synced = await api.waitForStatus(post.file_id)
    expect(synced.json.content_encoding).toBe('base64')
    expect(Buffer.from(synced.json.content, 'base64').equals(bytes)).toBe(true)
    expect(deps().config.cacheMaxBytes).toBeGreaterThan(bytes.length)
  })
})
