/**
 * A test page that drives Uppy 5's S3 plugin in multipart mode against this API's routes: presign (the server starts
 * the storage upload), `POST /files/{id}/parts` per part, `GET /files/{id}/parts` to resume, confirm to complete.
 * Golden Retriever keeps the file and its upload id across a reload. Bundled by the browser test with esbuild; the
 * test sets `window.uppyTest = { api, token, partSize }` before this script runs.
 */
import Uppy from '@uppy/core'
import AwsS3 from '@uppy/aws-s3'
import GoldenRetriever from '@uppy/golden-retriever'

interface TestGlobals {
  api: string
  token: string
  partSize: number
  signed: number[]
  done: string[]
  errors: string[]
}
const g = (globalThis as unknown as { uppyTest: TestGlobals }).uppyTest
g.signed = []
g.done = []
g.errors = []

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${g.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${g.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const json = await response.json()
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`)
  return json
}

const uppy = new Uppy({ id: 'uppy-multipart-test', autoProceed: false })
  .use(GoldenRetriever, { serviceWorker: false, indexedDB: { maxFileSize: 256 * 1024 * 1024, maxTotalSize: 512 * 1024 * 1024 } as never })
  .use(AwsS3, {
    shouldUseMultipart: true,
    // Parts must match the plan the server answered; the test passes the server's configured part size.
    getChunkSize: () => g.partSize,
    limit: 2,
    async createMultipartUpload(file) {
      const upload = await call('POST', '/files/presigned-upload', {
        filename: file.name,
        external_id: 'uppy',
        content_type: file.type || 'application/octet-stream',
        file_size: file.size,
        multipart: true,
      })
      if (upload.part_size !== g.partSize) throw new Error(`server part size ${upload.part_size}, page ${g.partSize}`)
      // The file id is all the routes need; Uppy keeps it as the upload id (and Golden Retriever persists it).
      return { uploadId: upload.file_id, key: upload.file_id }
    },
    async signPart(_file, { uploadId, partNumber }) {
      const { parts } = await call('POST', `/files/${uploadId}/parts`, { part_numbers: [partNumber] })
      g.signed.push(partNumber)
      return { method: 'PUT', url: parts[0].url, headers: parts[0].headers }
    },
    async listParts(_file, { uploadId }) {
      const listing = await call('GET', `/files/${uploadId}/parts`)
      return listing.parts.map((p: { part_number: number; size: number; etag: string }) => ({ PartNumber: p.part_number, Size: p.size, ETag: p.etag }))
    },
    async completeMultipartUpload(file, { uploadId }) {
      // The server assembles the upload from the parts storage holds: the ETags Uppy collected are not sent.
      await call('POST', '/files/confirm-uploads', { file_id: uploadId, file_size: file.size })
      return {}
    },
    async abortMultipartUpload() {
      // The sweeper aborts uploads that are never confirmed.
    },
  })

uppy.on('upload-success', (file) => g.done.push(String(file?.id)))
uppy.on('upload-error', (_file, error) => g.errors.push(String(error)))
;(globalThis as unknown as { uppy: typeof uppy }).uppy = uppy
