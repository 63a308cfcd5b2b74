import { randomBytes } from 'node:crypto'
import { ApiClient, postToStorage, sha256 } from '../../fixtures/pipeline.js'
import { mapConcurrent } from '../../../functions/core/concurrency.js'
import { sleep } from './harness.js'

export interface Uploaded {
  id: string
  bytes: Buffer
  sha256: string
}

export interface Answer {
  status: number
  code: string | undefined
  ms: number
  at: number
}

/** Presigns and POSTs each file to storage through the HTTP API, retrying 503s (a client would). */
export async function uploadMany(api: ApiClient, count: number, concurrency = 8, size = () => 512 + Math.floor(Math.random() * 8192)): Promise<Uploaded[]> {
  return mapConcurrent(Array.from({ length: count }, (_, i) => i), concurrency, async (i) => {
    const bytes = randomBytes(size())
    for (let attempt = 0; ; attempt++) {
      const presign = await api.presign({ filename: `file-${i}.bin`, external_id: 'reliability', content_type: 'application/octet-stream', file_size: bytes.length })
      if (presign.status === 201) {
        const stored = await postToStorage(presign.json, bytes)
        if (stored.status !== 204 && stored.status !== 201) throw new Error(`storage answered ${stored.status}: ${stored.body}`)
        return { id: presign.json.file_id as string, bytes, sha256: sha256(bytes) }
      }
      if (presign.status !== 503 || attempt > 100) throw new Error(`presign answered ${presign.status}: ${presign.text}`)
      await sleep(200)
    }
  })
}

export async function confirmOnce(api: ApiClient, file: Uploaded): Promise<Answer> {
  const started = Date.now()
  const res = await api.confirm({ file_id: file.id, file_size: file.bytes.length })
  return { status: res.status, code: res.json?.error?.code, ms: Date.now() - started, at: Date.now() }
}

/** Confirms until 200, for the files whose confirm failed during an outage. */
export async function confirmUntilOk(api: ApiClient, file: Uploaded, timeoutMs = 120_000): Promise<Answer> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const answer = await confirmOnce(api, file)
    if (answer.status === 200) return answer
    if (answer.status !== 503 || Date.now() > deadline) throw new Error(`confirm of ${file.id} answered ${answer.status} ${answer.code}`)
    await sleep(250)
  }
}

/** GET /files/{id}: the content's SHA-256 and where it came from. */
export async function readBack(api: ApiClient, id: string): Promise<{ status: number; sha256: string | undefined; cache: string | null; ms: number; fileStatus: string | undefined }> {
  const started = Date.now()
  const res = await api.getFile(id)
  const content = res.json?.content as string | null | undefined
  const bytes = content == null ? undefined : Buffer.from(content, res.json.content_encoding === 'base64' ? 'base64' : 'utf8')
  return { status: res.status, sha256: bytes && sha256(bytes), cache: res.headers.get('x-cache'), ms: Date.now() - started, fileStatus: res.json?.file?.status }
}
