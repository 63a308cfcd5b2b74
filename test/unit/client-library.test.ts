import { describe, expect, it } from 'vitest'
import {
  ApiError,
  HttpStatusError,
  isNeverSentError,
  NetworkError,
  retry,
  retryAfterDelay,
  SettleTimeoutError,
  StorageError,
  UploadClient,
  type RetryInfo,
} from '../../client/src/index.js'

/** A scripted `fetch`: each call takes the next answer (a Response, or an error to throw) and is recorded. */
function scripted(answers: (Response | Error | ((url: string, init: RequestInit) => Response))[]) {
  const calls: { url: string; method: string; body: unknown; authorization: string | undefined }[] = []
  const fetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const headers = (init.headers ?? {}) as Record<string, string>
    calls.push({ url: String(input), method: init.method ?? 'GET', body: init.body, authorization: headers.authorization })
    const next = answers.shift()
    if (next === undefined) throw new Error(`unexpected request ${init.method} ${String(input)}`)
    if (next instanceof Error) throw next
    return typeof next === 'function' ? next(String(input), init) : next
  }) as typeof globalThis.fetch
  return { fetch, calls }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
const rateLimited = (seconds: string) => json(429, { error: { code: 'RATE_LIMITED', message: 'Too many uploads' } }, { 'retry-after': seconds })
/** What Node's fetch throws when a socket fails, with the socket error's code as its cause. */
const socketError = (code: string) => new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) })

const fileId = '7b0c5e8e-9d3c-4f0e-8a57-3c1f4e0f6a11'
const view = (status: string) => ({
  id: fileId,
  external_id: 'ext',
  filename: 'a.csv',
  content_type: 'text/csv',
  file_size: 3,
  status,
  sha256: null,
  error: null,
  created_at: '2026-12-01T12:00:00.000Z',
  uploaded_at: null,
  synced_at: null,
})
const postUpload = {
  file_id: fileId,
  upload_type: 'post',
  upload_url: 'http://storage.invalid/bucket',
  form_fields: { key: 'uploads/x', 'Content-Type': 'text/csv' },
  expires_at: '2026-12-01T12:15:00.000Z',
  max_file_size: 3,
}

const client = (fetch: typeof globalThis.fetch, extra: Partial<ConstructorParameters<typeof UploadClient>[0]> = {}) =>
  new UploadClient({ baseUrl: 'http://api.invalid/', token: 'tok', fetch, retry: { baseDelayMs: 1, random: () => 0 }, ...extra })

describe('the client library', () => {
  it('waits out a 429 for at least its Retry-After and tells onRetry why', async () => {
    const { fetch, calls } = scripted([rateLimited('0.02'), json(201, postUpload)])
    const retries: RetryInfo[] = []
    const upload = await client(fetch, { onRetry: (info) => retries.push(info) }).presign({ filename: 'a.csv', external_id: 'ext' })
    expect(upload.file_id).toBe(fileId)
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(Array(2).fill('POST http://api.invalid/files/presigned-upload'))
    expect(retries).toHaveLength(1)
    expect(retries[0]).toMatchObject({ attempt: 1, reason: 'rate-limited', status: 429, retryAfterMs: 20, request: 'POST /files/presigned-upload' })
    expect(retries[0]!.delayMs).toBeGreaterThanOrEqual(20)
  })

  it('retries a presign only when the request cannot have reached the server', async () => {
    const refused = scripted([socketError('ECONNREFUSED'), json(201, postUpload)])
    await expect(client(refused.fetch).presign({ filename: 'a.csv', external_id: 'ext' })).resolves.toMatchObject({ file_id: fileId })
    expect(refused.calls).toHaveLength(2)

    // A reset after sending may follow a presign the server carried out: a second would register a second file.
    const reset = scripted([socketError('ECONNRESET'), json(201, postUpload)])
    const lost = await client(reset.fetch).presign({ filename: 'a.csv', external_id: 'ext' }).catch((e: unknown) => e)
    expect(lost).toBeInstanceOf(NetworkError)
    expect(lost).toMatchObject({ code: 'ECONNRESET', message: 'cannot reach POST http://api.invalid/files/presigned-upload (ECONNRESET)' })
    expect(reset.calls).toHaveLength(1)

    // So may a 500; a 503 says the service did nothing.
    const failed = scripted([json(500, { error: { code: 'INTERNAL', message: 'Internal server error' } })])
    await expect(client(failed.fetch).presign({ filename: 'a.csv', external_id: 'ext' })).rejects.toMatchObject({ status: 500, code: 'INTERNAL' })
    const unavailable = scripted([json(503, { error: { code: 'SERVICE_UNAVAILABLE', message: 'retry' } }, { 'retry-after': '0' }), json(201, postUpload)])
    await expect(client(unavailable.fetch).presign({ filename: 'a.csv', external_id: 'ext' })).resolves.toMatchObject({ file_id: fileId })
  })

  it('retries an idempotent call through resets and 5xx with backoff, asking for the token each time', async () => {
    const { fetch, calls } = scripted([socketError('ECONNRESET'), json(502, undefined), json(200, { confirmed: 1, files: [{ file_id: fileId, status: 'UPLOADED' }], failed: [] })])
    let tokens = 0
    const retries: RetryInfo[] = []
    const answer = await client(fetch, { token: () => `t${++tokens}`, onRetry: (i) => retries.push(i) }).confirm(fileId, 3)
    expect(answer.confirmed).toBe(1)
    expect(calls.map((c) => c.authorization)).toEqual(['Bearer t1', 'Bearer t2', 'Bearer t3'])
    expect(calls[0]!.body).toBe(JSON.stringify({ file_id: fileId, file_size: 3 }))
    expect(retries.map((r) => [r.reason, r.status])).toEqual([
      ['network', undefined],
      ['server-error', 502],
    ])
  })

  it('turns a refusal into an ApiError with the stable code, and does not retry it', async () => {
    const { fetch, calls } = scripted([json(409, { error: { code: 'UPLOAD_INCOMPLETE', message: 'parts missing', details: { missing: [2] } } })])
    const error = await client(fetch).confirm(fileId, 3).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({ status: 409, code: 'UPLOAD_INCOMPLETE', message: 'parts missing', details: { missing: [2] } })
    expect(calls).toHaveLength(1)
    expect(ApiError.from({ status: 502, json: undefined, text: 'Bad Gateway' })).toMatchObject({ code: undefined, message: 'HTTP 502: Bad Gateway' })
  })

  it('gives up on a Retry-After longer than it may wait, and on a spent budget, with the last answer', async () => {
    const long = scripted([rateLimited('600')])
    await expect(client(long.fetch).presign({ filename: 'a.csv', external_id: 'ext' })).rejects.toMatchObject({ status: 429, code: 'RATE_LIMITED' })
    expect(long.calls).toHaveLength(1)

    const many = scripted([rateLimited('0'), rateLimited('0'), rateLimited('0')])
    const c = client(many.fetch, { retry: { rateLimitRetries: 2, retries: 0, random: () => 0 } })
    await expect(c.presign({ filename: 'a.csv', external_id: 'ext' })).rejects.toMatchObject({ code: 'RATE_LIMITED' })
    expect(many.calls).toHaveLength(3)
  })

  it('answers raw through request() when asked not to retry, sending a string body as is', async () => {
    const { fetch, calls } = scripted([rateLimited('1')])
    const answer = await new UploadClient({ baseUrl: 'http://api.invalid', token: undefined, fetch }).request('POST', '/files/presigned-upload', {
      body: '{"filename":',
      retry: 'none',
      headers: { 'x-test': '1' },
    })
    expect([answer.status, answer.headers.get('retry-after'), answer.json.error.code]).toEqual([429, '1', 'RATE_LIMITED'])
    expect([calls[0]!.body, calls[0]!.authorization]).toEqual(['{"filename":', undefined])
  })

  it('lists every file across pages, following next_cursor with the filter', async () => {
    const cursor = `1764590400000.${fileId}`
    const { fetch, calls } = scripted([
      json(200, { files: [view('SYNCED'), view('PENDING')], next_cursor: cursor }),
      json(200, { files: [view('FAILED')], next_cursor: null }),
    ])
    const statuses: string[] = []
    for await (const file of client(fetch).listFiles({ externalId: 'a b', limit: 2 })) statuses.push(file.status)
    expect(statuses).toEqual(['SYNCED', 'PENDING', 'FAILED'])
    expect(calls.map((c) => new URL(c.url).search)).toEqual(['?external_id=a+b&limit=2', `?external_id=a+b&limit=2&cursor=${encodeURIComponent(cursor)}`])
  })

  it('polls until the file settles, reporting each state, and times out with the last one', async () => {
    const get = (status: string) => json(200, { file: view(status), content: null, content_encoding: null, download_url: null })
    const seen: string[] = []
    const { fetch } = scripted([get('UPLOADED'), get('SYNCING'), get('QUARANTINED')])
    const file = await client(fetch).waitUntilSettled(fileId, { onUpdate: (f) => seen.push(f.status), maxIntervalMs: 5 })
    expect([file.status, seen]).toEqual(['QUARANTINED', ['UPLOADED', 'SYNCING', 'QUARANTINED']])

    const stuck = scripted(Array.from({ length: 50 }, () => get('SYNCING')))
    const error = await client(stuck.fetch).waitUntilSettled(fileId, { timeoutMs: 30, maxIntervalMs: 5 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SettleTimeoutError)
    expect((error as SettleTimeoutError).file?.status).toBe('SYNCING')
  })

  it('uploads a small file by form POST: presign, tell the caller, POST every field then the file, confirm', async () => {
    const order: string[] = []
    const { fetch, calls } = scripted([
      json(201, postUpload),
      (url, init) => {
        order.push('storage')
        const form = init.body as FormData
        expect([...form.keys()]).toEqual(['key', 'Content-Type', 'file'])
        return new Response(null, { status: 204 })
      },
      json(200, { confirmed: 1, files: [{ file_id: fileId, status: 'UPLOADED' }], failed: [] }),
      json(200, { file: view('UPLOADED'), content: null, content_encoding: null, download_url: null }),
    ])
    const progress: number[] = []
    const file = await client(fetch).upload(new Blob(['a,b']), {
      filename: 'a.csv',
      externalId: 'ext',
      onUploadCreated: (u) => order.push(`created ${u.file_id}`),
      onProgress: (p) => progress.push(p.uploadedBytes),
    })
    expect(file.status).toBe('UPLOADED')
    expect(order).toEqual([`created ${fileId}`, 'storage'])
    expect(progress).toEqual([0, 3])
    expect(JSON.parse(calls[0]!.body as string)).toEqual({ filename: 'a.csv', external_id: 'ext', file_size: 3 })
    expect(calls.map((c) => c.url)).toEqual([
      'http://api.invalid/files/presigned-upload',
      'http://storage.invalid/bucket',
      'http://api.invalid/files/confirm-uploads',
      `http://api.invalid/files/${fileId}`,
    ])
  })

  it('reports a storage refusal with its S3 code and does not confirm', async () => {
    const { fetch, calls } = scripted([
      json(201, postUpload),
      new Response('<Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size</Message></Error>', { status: 400 }),
    ])
    const error = await client(fetch).upload(new Blob(['a,b']), { filename: 'a.csv', externalId: 'ext' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StorageError)
    expect(error).toMatchObject({ status: 400, code: 'EntityTooLarge' })
    expect(calls).toHaveLength(2)
  })

  it('sends the form POST again after storage was unreachable or unavailable: the same bytes to the same key', async () => {
    const { fetch, calls } = scripted([
      json(201, postUpload),
      socketError('ECONNRESET'),
      new Response('<Error><Code>SlowDown</Code></Error>', { status: 503 }),
      new Response(null, { status: 204 }),
      json(200, { confirmed: 1, files: [{ file_id: fileId, status: 'UPLOADED' }], failed: [] }),
      json(200, { file: view('UPLOADED'), content: null, content_encoding: null, download_url: null }),
    ])
    const retries: RetryInfo[] = []
    const file = await client(fetch, { onRetry: (i) => retries.push(i) }).upload(new Blob(['a,b']), { filename: 'a.csv', externalId: 'ext' })
    expect(file.status).toBe('UPLOADED')
    expect(calls.filter((c) => c.url === postUpload.upload_url)).toHaveLength(3)
    expect(retries.map((r) => [r.request, r.reason, r.status])).toEqual([
      ['POST storage', 'network', undefined],
      ['POST storage', 'unavailable', 503],
    ])
  })

  it('tells a connection never made from one that may have delivered the request', () => {
    expect(isNeverSentError(socketError('ECONNREFUSED'))).toBe(true)
    expect(isNeverSentError(socketError('ENOTFOUND'))).toBe(true)
    expect(isNeverSentError(socketError('ECONNRESET'))).toBe(false)
    expect(isNeverSentError(new TypeError('Failed to fetch'))).toBe(false)
    const happyEyeballs = (codes: string[]) =>
      new TypeError('fetch failed', { cause: new AggregateError(codes.map((code) => Object.assign(new Error(code), { code }))) })
    expect(isNeverSentError(happyEyeballs(['ECONNREFUSED', 'ENETUNREACH']))).toBe(true)
    expect(isNeverSentError(happyEyeballs(['ECONNREFUSED', 'ECONNRESET']))).toBe(false)
  })

  it('waits at least what Retry-After asks, spreading clients by at most a tenth or 1 s', () => {
    expect([retryAfterDelay(5_000, { random: () => 0 }), retryAfterDelay(5_000, { random: () => 0.999 }), retryAfterDelay(60_000, { random: () => 0.999 })]).toEqual([
      5_000, 5_499, 60_999,
    ])
  })

  it('counts waits the server asked for apart from failures', async () => {
    let calls = 0
    const result = await retry(
      async () => {
        calls += 1
        if (calls <= 3) throw new HttpStatusError(429, '', 0)
        if (calls === 4) throw new TypeError('fetch failed')
        return 'done'
      },
      { retries: 1, rateLimitRetries: 3, baseDelayMs: 1 },
    )
    expect([result, calls]).toEqual(['done', 5])
  })
})

describe('the client library bundle', () => {
  it('bundles for a browser from its own sources alone: the schemas give types only, and nothing of Node or zod', async () => {
    const { build } = await import('esbuild')
    const result = await build({
      entryPoints: [new URL('../../client/src/index.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    })
    const inputs = Object.keys(result.metafile.inputs)
    expect(inputs.length).toBeGreaterThan(5)
    expect(inputs.filter((path) => !path.startsWith('client/src/'))).toEqual([])
  })
})
