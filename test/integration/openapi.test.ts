import { randomUUID } from 'node:crypto'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { webFallback } from '../../bin/local/web.js'
import { S3_MAX_OBJECT_SIZE } from '../../functions/core/aws-limits.js'
import type { LocalRuntime } from '../../bin/local/runtime.js'
import { ApiClient, postToStorage, resetState, root, startRuntime, tokenFor } from '../fixtures/pipeline.js'

// ajv-formats is CommonJS: under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

type Doc = {
  paths: Record<string, Record<string, {
    requestBody?: { content: Record<string, { schema: object }> }
    responses: Record<string, { content?: Record<string, { schema: object }> }>
  }>>
}

let runtime: LocalRuntime
let api: ApiClient
let doc: Doc
// strictRequired off: zod renders a record with enum keys as `propertyNames` + `required`, which is
// valid JSON Schema but trips that lint.
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true })
addFormats(ajv)
const compiled = new Map<string, ValidateFunction>()

function validator(key: string, schema: object | undefined): ValidateFunction {
  if (!schema) throw new Error(`the document has no schema for ${key}`)
  if (!compiled.has(key)) compiled.set(key, ajv.compile(schema))
  return compiled.get(key)!
}

/** Checks a real response against what the document says `method path` answers with that status. */
function expectDocumented(method: string, path: string, res: { status: number; json: unknown }): void {
  const key = `${method} ${path} ${res.status}`
  const schema = doc.paths[path]?.[method.toLowerCase()]?.responses[res.status]?.content?.['application/json']?.schema
  const validate = validator(key, schema)
  expect(validate(res.json), `${key}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(res.json)}`).toBe(true)
}

/** Whether the document's request schema accepts `body`: it must agree with what the handler accepted. */
function requestAccepted(method: string, path: string, body: unknown): boolean {
  const schema = doc.paths[path]?.[method.toLowerCase()]?.requestBody?.content['application/json']?.schema
  return validator(`${method} ${path} request`, schema)(body)
}

beforeAll(async () => {
  await resetState()
  runtime = await startRuntime({ fallback: webFallback({ root, storageOrigin: process.env.AWS_ENDPOINT_URL! }) })
  api = new ApiClient(runtime.url, await tokenFor(`openapi-${randomUUID()}`))
  const res = await fetch(`${runtime.url}/openapi.json`)
  expect(res.status).toBe(200)
  doc = (await res.json()) as Doc
})
afterAll(async () => {
  await runtime.close()
})

describe('/openapi.json against the running API', () => {
  it('is served by the local runtime and compiles as JSON Schema 2020-12 in strict mode', () => {
    let schemas = 0
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          // A 204 has no body to describe.
          if (status === '204' && !response.content) continue
          validator(`${method.toUpperCase()} ${path} ${status}`, response.content?.['application/json']?.schema)
          schemas += 1
        }
      }
    }
    expect(schemas).toBeGreaterThan(20)
    // The checks below can fail: a code the route does not answer with, or an undocumented field, is refused.
    const notFound = validator('GET /files/{id} 404', doc.paths['/files/{id}']!.get!.responses['404']!.content!['application/json']!.schema)
    expect(notFound({ error: { code: 'FILE_NOT_FOUND', message: 'File not found' } })).toBe(true)
    expect(notFound({ error: { code: 'SIZE_MISMATCH', message: 'File not found' } })).toBe(false)
    expect(notFound({ error: { code: 'FILE_NOT_FOUND', message: 'File not found' }, trace: 'x' })).toBe(false)
  })

  it('describes the answers of a whole upload: presign, confirm, get, list and health', async () => {
    const bytes = Buffer.from('id,value\n1,42\n')
    const presignBody = { filename: 'doc.csv', external_id: 'openapi', file_size: bytes.length }
    expect(requestAccepted('POST', '/files/presigned-upload', presignBody)).toBe(true)
    const presign = await api.presign(presignBody)
    expect(presign.status).toBe(201)
    expectDocumented('POST', '/files/presigned-upload', presign)
    expect((await postToStorage(presign.json, bytes)).status).toBe(204)

    const confirmBody = { file_id: presign.json.file_id, file_size: bytes.length }
    expect(requestAccepted('POST', '/files/confirm-uploads', confirmBody)).toBe(true)
    const confirm = await api.confirm(confirmBody)
    expect(confirm.status).toBe(200)
    expectDocumented('POST', '/files/confirm-uploads', confirm)

    const pending = await api.getFile(presign.json.file_id)
    expectDocumented('GET', '/files/{id}', pending)
    const synced = await api.waitForStatus(presign.json.file_id)
    expect(synced.json.content).toBe(bytes.toString())
    expectDocumented('GET', '/files/{id}', synced)

    const list = await api.list({ external_id: 'openapi', limit: '1' })
    expect(list.json.files).toHaveLength(1)
    expectDocumented('GET', '/files', list)

    const health = await api.request('GET', '/health')
    expect(health.status).toBe(200)
    expectDocumented('GET', '/health', health)
  })

  it('describes the error answers, their status and their codes', async () => {
    const batch = await api.confirm({ uploads: [{ file_id: randomUUID(), file_size: 1 }] })
    expect(batch.json.failed[0].error.code).toBe('FILE_NOT_FOUND')
    expectDocumented('POST', '/files/confirm-uploads', batch)

    const notUploaded = await api.presign({ filename: 'never.csv', external_id: 'openapi', file_size: 3 })
    const cases: { method: string; path: string; res: Promise<{ status: number; json: any }>; code: string; body?: unknown }[] = [
      { method: 'POST', path: '/files/presigned-upload', body: { filename: '' }, code: 'VALIDATION_FAILED', res: api.presign({ filename: '' }) },
      {
        method: 'POST',
        path: '/files/presigned-upload',
        code: 'UNSUPPORTED_MEDIA_TYPE',
        res: api.presign({ filename: 'page.html', external_id: 'x', content_type: 'text/html' }),
      },
      {
        method: 'POST',
        path: '/files/presigned-upload',
        code: 'PAYLOAD_TOO_LARGE',
        res: api.presign({ filename: 'big.bin', external_id: 'x', file_size: S3_MAX_OBJECT_SIZE + 1 }),
      },
      {
        method: 'POST',
        path: '/files/presigned-upload',
        code: 'UNAUTHORIZED',
        res: new ApiClient(runtime.url, undefined).presign({ filename: 'a.csv', external_id: 'x' }),
      },
      { method: 'POST', path: '/files/confirm-uploads', body: { uploads: [] }, code: 'VALIDATION_FAILED', res: api.confirm({ uploads: [] }) },
      { method: 'POST', path: '/files/confirm-uploads', code: 'FILE_NOT_FOUND', res: api.confirm({ file_id: randomUUID(), file_size: 1 }) },
      {
        method: 'POST',
        path: '/files/confirm-uploads',
        code: 'UPLOAD_NOT_FOUND',
        res: api.confirm({ file_id: notUploaded.json.file_id, file_size: 3 }),
      },
      {
        method: 'POST',
        path: '/files/confirm-uploads',
        code: 'SIZE_MISMATCH',
        res: api.confirm({ file_id: notUploaded.json.file_id, file_size: 4 }),
      },
      { method: 'GET', path: '/files/{id}', code: 'VALIDATION_FAILED', res: api.getFile('not-a-uuid') },
      { method: 'GET', path: '/files/{id}', code: 'FILE_NOT_FOUND', res: api.getFile(randomUUID()) },
      { method: 'GET', path: '/files', code: 'VALIDATION_FAILED', res: api.list({ limit: '1000' }) },
    ]
    for (const c of cases) {
      const res = await c.res
      expect(res.json?.error?.code, `${c.method} ${c.path}`).toBe(c.code)
      expectDocumented(c.method, c.path, res)
      // What the handler refused as invalid, the document's request schema refuses too.
      if (c.body !== undefined) expect(requestAccepted(c.method, c.path, c.body)).toBe(false)
    }
  })
})
