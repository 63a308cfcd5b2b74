import { describe, expect, it } from 'vitest'
import { samples } from '../fixtures/samples.js'
import { sha256, usePipeline } from '../fixtures/pipeline.js'

const pipeline = usePipeline()
const api = pipeline.client('alice')

async function uploadAndWait(bytes: Buffer, input: Record<string, unknown>) {
  const { post, stored } = await api.upload(bytes, input)
  expect(stored.status).toBe(204)
  await api.confirm({ file_id: post.file_id, file_size: bytes.length })
  return api.waitForStatus(post.file_id)
}

describe('the type check on the hash stage', () => {
  it('fails PNG bytes declared text/csv with TYPE_MISMATCH and serves nothing', async () => {
    const res = await uploadAndWait(samples.png, { filename: 'numbers.csv', external_id: 'e', content_type: 'text/csv' })
    expect(res.json.file).toMatchObject({
      status: 'FAILED',
      sha256: null,
      error: { code: 'TYPE_MISMATCH', message: 'declared text/csv, but the bytes are image/png' },
    })
    expect(res.json).toMatchObject({ content: null, download_url: null })
  })

  it('syncs a real PNG declared image/png', async () => {
    const res = await uploadAndWait(samples.png, { filename: 'dot.png', external_id: 'e', content_type: 'image/png' })
    expect(res.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(samples.png), error: null })
    expect(Buffer.from(res.json.content, 'base64')).toEqual(samples.png)
  })

  it('syncs a zip declared as a zip and CSV text declared text/csv', async () => {
    const zip = await uploadAndWait(samples.zip, { filename: 'a.zip', external_id: 'e', content_type: 'application/zip' })
    expect(zip.json.file.status).toBe('SYNCED')
    const csv = await uploadAndWait(samples.csv, { filename: 'a.csv', external_id: 'e', content_type: 'text/csv' })
    expect(csv.json.file.status).toBe('SYNCED')
  })
})
