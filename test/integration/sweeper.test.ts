import { ListObjectVersionsCommand } from '@aws-sdk/client-s3'
import { sql } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { deps } from '../../functions/core/deps.js'
import { sweepFiles } from '../../functions/core/sweeper.js'
import { postToStorage, usePipeline } from '../fixtures/pipeline.js'
import { s3Client } from '../fixtures/security.js'

const pipeline = usePipeline({ pollers: 0, schedules: { RelayOutbox: 0, SweepFiles: 0 } })
const api = pipeline.client('alice')
const s3 = s3Client()
afterAll(() => s3.destroy())

const file = (id: string) => deps().db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

describe('the sweeper', () => {
  it('expires uploads never confirmed before expiry plus grace and removes their objects', async () => {
    const abandoned = await api.presign({ filename: 'a.csv', external_id: 'e', file_size: 3 })
    await postToStorage(abandoned.json, Buffer.from('a,b'))
    const fresh = await api.presign({ filename: 'b.csv', external_id: 'e' })
    const grace = deps().config.expiryGraceSeconds
    await sql`update files set upload_expires_at = now() - make_interval(secs => ${grace + 1}) where id = ${abandoned.json.file_id}`.execute(deps().db)

    const result = await sweepFiles(deps())
    expect(result.expired).toBe(1)
    const expired = await file(abandoned.json.file_id)
    expect(expired).toMatchObject({ status: 'EXPIRED', error_code: 'UPLOAD_EXPIRED' })
    expect(await deps().storage.head(expired.object_key)).toBeUndefined()
    const { Versions = [], DeleteMarkers = [] } = await s3.send(
      new ListObjectVersionsCommand({ Bucket: process.env.FILES_BUCKET_NAME!, Prefix: expired.object_key }),
    )
    expect([...Versions, ...DeleteMarkers]).toEqual([])
    expect((await file(fresh.json.file_id)).status).toBe('PENDING')

    const late = await api.confirm({ file_id: abandoned.json.file_id, file_size: 3 })
    expect(late.status).toBe(409)
    expect(late.json.error.code).toBe('INVALID_STATE')
  })

  it('re-publishes a file stuck in UPLOADED', async () => {
    const { post } = await api.upload(Buffer.from('stuck'))
    await api.confirm({ file_id: post.file_id, file_size: 5 })
    const stuckFor = deps().config.stuckAfterSeconds + 1
    await sql`update files set updated_at = now() - make_interval(secs => ${stuckFor})`.execute(deps().db)

    const result = await sweepFiles(deps())
    expect(result).toMatchObject({ republished: 1, published: 1 })
    const rows = await deps().db.selectFrom('outbox').selectAll().where('file_id', '=', post.file_id).orderBy('id').execute()
    expect(rows).toHaveLength(2)
    expect(rows.every((r) => r.published_at !== null)).toBe(true)
    // Touched, so the next sweep leaves it alone until it is idle again.
    expect((await sweepFiles(deps())).republished).toBe(0)
  })
})
