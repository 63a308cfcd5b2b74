import { createHash, randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { contentKey } from '../../functions/core/cache.js'
import { sha256, usePipeline } from '../fixtures/pipeline.js'

// 64 MiB is past clamd's stream limit: with scanning on this file would be quarantined NOT_SCANNED
// (test/integration/scanning/clamav-pipeline.test.ts). This file is about streaming the hash. Read before the first deps().
process.env.MALWARE_SCANNER = 'off'

const pipeline = usePipeline({ pollers: 1 })
const api = pipeline.client('alice')

describe('a large file', () => {
  it('is hashed by streaming, never cached, and offered as a download instead of inline', async () => {
    const size = 64 * 1024 * 1024
    const bytes = randomBytes(size)
    const { post, stored } = await api.upload(bytes, { filename: 'big.bin', content_type: 'application/octet-stream' })
    expect(stored.status).toBe(204)
    await api.confirm({ file_id: post.file_id, file_size: size })

    const synced = await api.waitForStatus(post.file_id, ['SYNCED', 'FAILED'], 120_000)
    expect(synced.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes), file_size: size })
    expect(synced.json.content).toBeNull()
    expect(synced.headers.get('x-cache')).toBeNull()

    const redis = new Redis(process.env.REDIS_URL!)
    expect(await redis.exists(contentKey(post.file_id))).toBe(0)
    redis.disconnect()

    const download = await fetch(synced.json.download_url)
    expect(download.status).toBe(200)
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="big.bin"; filename*=UTF-8''big.bin`)
    const hash = createHash('sha256')
    for await (const chunk of download.body!) hash.update(chunk)
    expect(hash.digest('hex')).toBe(sha256(bytes))

    // LocalStack runs with S3_SKIP_SIGNATURE_VALIDATION=0 (localstack/lib.sh): a forged URL is refused as on S3.
    const forged = new URL(synced.json.download_url)
    forged.searchParams.set('X-Amz-Signature', '0'.repeat(64))
    const refused = await fetch(forged)
    expect(refused.status).toBe(403)
    expect(await refused.text()).toContain('SignatureDoesNotMatch')
  })
})
