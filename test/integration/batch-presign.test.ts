import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_PRESIGN_BATCH } from '../../functions/core/schemas.js'
import { ApiClient, postToStorage, tokenFor, usePipeline } from '../fixtures/pipeline.js'
import { fileCount, startChildRuntime, type ChildRuntime } from '../fixtures/security.js'

const pipeline = usePipeline()
const api = pipeline.client('batcher')

const item = (name: string, size = 3) => ({ filename: name, external_id: 'folder-1', file_size: size })

describe('batch presign', () => {
  it('answers 200 with the valid items presigned in order and the invalid ones by index, storing only the valid', async () => {
    const res = await api.presign({
      uploads: [item('a.csv'), item('huge.csv', 5 * 1024 ** 3 + 1), item('b.csv'), { ...item('c.exe'), content_type: 'application/x-msdownload' }, item('d.csv')],
    })
    expect(res.status).toBe(200)
    expect(res.json.files).toHaveLength(3)
    expect(res.json.failed).toEqual([
      { index: 1, error: expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }) },
      { index: 3, error: expect.objectContaining({ code: 'UNSUPPORTED_MEDIA_TYPE' }) },
    ])
    expect(await fileCount()).toBe(3)

    const listed = await api.list({ external_id: 'folder-1' })
    const byId = new Map(listed.json.files.map((f: { id: string; filename: string }) => [f.id, f.filename]))
    expect(res.json.files.map((f: { file_id: string }) => byId.get(f.file_id))).toEqual(['a.csv', 'b.csv', 'd.csv'])
  })

  it('gives each batch item an upload that storage accepts and confirm takes', async () => {
    const res = await api.presign({ uploads: [item('x.csv'), item('y.csv')] })
    for (const upload of res.json.files) {
      expect((await postToStorage(upload, Buffer.from('1,2'))).status).toBe(204)
    }
    const confirmed = await api.confirm({ uploads: res.json.files.map((f: { file_id: string }) => ({ file_id: f.file_id, file_size: 3 })) })
    expect(confirmed.json).toMatchObject({ confirmed: 2, failed: [] })
  })

  it(`refuses an empty batch, one of more than ${MAX_PRESIGN_BATCH} items and one with a schema-invalid item with 400, storing nothing`, async () => {
    expect((await api.presign({ uploads: [item('a.csv'), item('../escape.csv')] })).status).toBe(400)
    expect((await api.presign({ uploads: [] })).json.error.code).toBe('VALIDATION_FAILED')
    const tooMany = await api.presign({ uploads: Array.from({ length: MAX_PRESIGN_BATCH + 1 }, (_, i) => item(`f${i}.csv`)) })
    expect(tooMany.status).toBe(400)
    expect(await fileCount()).toBe(0)
  })
})

describe('the default rate limit', () => {
  let runtime: ChildRuntime
  beforeAll(async () => {
    // Unset: the configuration's own default applies.
    runtime = await startChildRuntime({ PRESIGN_RATE_LIMIT: '', PRESIGN_RATE_WINDOW_SECONDS: '' })
  }, 120_000)
  afterAll(async () => {
    await runtime?.stop()
  })

  it('lets a folder of 500 small files through from one user without a refusal', async () => {
    const user = new ApiClient(runtime.url, await tokenFor('folder-owner'))
    const statuses: number[] = []
    for (let batch = 0; batch < 5; batch++) {
      const res = await user.presign({ uploads: Array.from({ length: 100 }, (_, i) => item(`${batch}-${i}.csv`)) })
      statuses.push(res.status)
      expect(res.json.failed).toEqual([])
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200])
    expect(await fileCount()).toBe(500)
  })
})
