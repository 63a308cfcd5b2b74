import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../functions/core/config.js'
import { createDeps, deps } from '../../functions/core/deps.js'
import { presignUpload } from '../../functions/core/presign.js'
import { mustBePost, postToStorage, usePipeline } from '../fixtures/pipeline.js'

const pipeline = usePipeline({ pollers: 0, schedules: { RelayOutbox: 0, SweepFiles: 0 } })
const api = pipeline.client('alice')

const stored = async (fileId: string) => {
  const file = await deps().db.selectFrom('files').select('object_key').where('id', '=', fileId).executeTakeFirstOrThrow()
  return deps().storage.head(file.object_key)
}

describe('storage enforces the presigned policy', () => {
  it('accepts the upload the policy describes', async () => {
    const presign = await api.presign({ filename: 'ok.csv', external_id: 'e', file_size: 3 })
    expect((await postToStorage(presign.json, Buffer.from('a,b'))).status).toBe(204)
    expect(await stored(presign.json.file_id)).toEqual({ size: 3, versionId: expect.any(String) })
  })

  it('refuses a body larger than the declared size', async () => {
    const presign = await api.presign({ filename: 'big.csv', external_id: 'e', file_size: 3 })
    const result = await postToStorage(presign.json, Buffer.from('a,b,c'))
    expect(result.status).toBe(400)
    expect(result.body).toContain('EntityTooLarge')
    expect(await stored(presign.json.file_id)).toBeUndefined()
  })

  it('refuses another Content-Type', async () => {
    const presign = await api.presign({ filename: 'x.csv', external_id: 'e', file_size: 3 })
    const result = await postToStorage(presign.json, Buffer.from('a,b'), { fields: { 'Content-Type': 'text/html' } })
    expect(result.status).toBe(403)
    expect(await stored(presign.json.file_id)).toBeUndefined()
  })

  it('refuses another key', async () => {
    const presign = await api.presign({ filename: 'x.csv', external_id: 'e', file_size: 3 })
    const key = presign.json.form_fields.key.replace(/[^/]+$/, 'someone-elses-file')
    const result = await postToStorage(presign.json, Buffer.from('a,b'), { fields: { key } })
    expect(result.status).toBe(403)
    expect(await deps().storage.head(key)).toBeUndefined()
  })

  it('refuses an upload after the policy expired', async () => {
    const shortLived = createDeps(loadConfig({ ...process.env, UPLOAD_URL_TTL_SECONDS: '1' }))
    try {
      const post = mustBePost(await presignUpload(shortLived, 'alice', { filename: 'late.csv', external_id: 'e', file_size: 3 }))
      await new Promise((r) => setTimeout(r, 2_100))
      const result = await postToStorage(post, Buffer.from('a,b'))
      expect(result.status).toBe(403)
      expect(result.body).toContain('Policy expired')
      expect(await stored(post.file_id)).toBeUndefined()
    } finally {
      await shortLived.close()
    }
  })
})
