import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import type { LocalRuntime } from '../../../bin/local/runtime.js'
import { webFallback } from '../../../bin/local/web.js'
import { contentKey } from '../../../functions/core/cache.js'
import { S3_MAX_OBJECT_SIZE } from '../../../functions/core/aws-limits.js'
import { loadConfig } from '../../../functions/core/config.js'
import { createDeps, deps } from '../../../functions/core/deps.js'
import { MAX_BODY_BYTES } from '../../../functions/core/middleware/http.js'
import { objectKeyFor } from '../../../functions/core/rules.js'
import { MAX_CONFIRM_BATCH } from '../../../functions/core/schemas.js'
import { confirmUploads } from '../../../functions/core/confirm.js'
import { presignUpload } from '../../../functions/core/presign.js'
import { ApiClient, mustBePost, postToStorage, resetState, root, sha256, startRuntime, tokenFor, type PresignBody } from '../../fixtures/pipeline.js'
import { forgeToken, headObject, rawRequest, stateFingerprint, unsignedToken } from '../../fixtures/security.js'

let runtime: LocalRuntime
let alice: ApiClient
let bob: ApiClient

beforeAll(async () => {
  runtime = await startRuntime()
  alice = new ApiClient(runtime.url, await tokenFor('alice'))
  bob = new ApiClient(runtime.url, await tokenFor('bob'))
})
afterAll(async () => {
  await runtime.close()
})

const uuid = '6f1c8a3e-2b7d-4c1e-9a5f-0d3b2c1a4e5f'

/** Every route but /health, each with a request that would succeed with a valid token. */
const protectedRequests = [
  { route: 'POST /files/presigned-upload', method: 'POST', path: '/files/presigned-upload', body: { filename: 'a.csv', external_id: 'e' } },
  { route: 'POST /files/confirm-uploads', method: 'POST', path: '/files/confirm-uploads', body: { uploads: [{ file_id: uuid, file_size: 1 }] } },
  { route: 'GET /files', method: 'GET', path: '/files', body: undefined },
  { route: 'GET /files/{id}', method: 'GET', path: `/files/${uuid}`, body: undefined },
] as const

const now = () => Math.floor(Date.now() / 1000)

/** Tokens that must not authenticate anyone, by the attack they stand for. */
const badCredentials: [string, () => Promise<Record<string, string>>][] = [
  ['no Authorization header', async () => ({})],
  ['an empty bearer token', async () => ({ authorization: 'Bearer ' })],
  ['a malformed token', async () => ({ authorization: 'Bearer not-a-jwt' })],
  ['three segments of garbage', async () => ({ authorization: 'Bearer aaa.bbb.ccc' })],
  ['a valid token without the Bearer scheme', async () => ({ authorization: await tokenFor('alice') })],
  ['a valid token under the Basic scheme', async () => ({ authorization: `Basic ${await tokenFor('alice')}` })],
  ['an expired token', async () => ({ authorization: `Bearer ${await forgeToken({ sub: 'alice', iat: now() - 7200, exp: now() - 60 })}` })],
  ['a token not yet valid', async () => ({ authorization: `Bearer ${await forgeToken({ sub: 'alice', nbf: now() + 3600 })}` })],
  [
    'a tampered token (payload swapped, signature kept)',
    async () => {
      const [header, , signature] = (await tokenFor('alice')).split('.')
      const [, payload] = (await tokenFor('bob')).split('.')
      return { authorization: `Bearer ${header}.${payload}.${signature}` }
    },
  ],
  ['a token signed with another secret', async () => ({ authorization: `Bearer ${await forgeToken({ sub: 'alice' }, { secret: 'guessed-secret' })}` })],
  ['a token for another audience', async () => ({ authorization: `Bearer ${await forgeToken({ sub: 'alice', aud: 'another-api' })}` })],
  ['a token from another issuer', async () => ({ authorization: `Bearer ${await forgeToken({ sub: 'alice', iss: 'https://evil.example' })}` })],
  ['a token without exp', async () => ({ authorization: `Bearer ${await forgeToken({ sub: 'alice' }, { omit: ['exp'] })}` })],
  ['a token without sub', async () => ({ authorization: `Bearer ${await forgeToken({})}` })],
  ['a token whose sub is empty', async () => ({ authorization: `Bearer ${await forgeToken({ sub: '' })}` })],
  ['a token whose sub is a number', async () => ({ authorization: `Bearer ${await forgeToken({ sub: 42 as unknown as string })}` })],
  // Before the verifier checked the type, ["alice"] became the owner '["alice"]', which a string sub could claim.
  ['a token whose sub is an array', async () => ({ authorization: `Bearer ${await forgeToken({ sub: ['alice'] as unknown as string })}` })],
  ['a token whose sub is an object', async () => ({ authorization: `Bearer ${await forgeToken({ sub: { id: 'alice' } as unknown as string })}` })],
  ['a token whose sub is null', async () => ({ authorization: `Bearer ${await forgeToken({ sub: null as unknown as string })}` })],
  ['a token whose sub is a boolean', async () => ({ authorization: `Bearer ${await forgeToken({ sub: true as unknown as string })}` })],
  ['a token whose sub is longer than 255 characters', async () => ({ authorization: `Bearer ${await tokenFor('é'.repeat(256))}` })],
  ['a token whose sub contains NUL', async () => ({ authorization: `Bearer ${await tokenFor('alice\u0000')}` })],
  ['a token whose sub is an unpaired surrogate', async () => ({ authorization: `Bearer ${await tokenFor('\ud800')}` })],
  ['an unsigned token (alg=none)', async () => ({ authorization: `Bearer ${unsignedToken({ sub: 'alice' })}` })],
  ['an alg=none token with a fake signature', async () => ({ authorization: `Bearer ${unsignedToken({ sub: 'alice' })}c2ln` })],
]

describe('authentication', () => {
  // The refusals compare state before and after each request; they need no clean slate of their own.
  beforeAll(resetState)
  const cases = protectedRequests.flatMap((request) => badCredentials.map(([attack, headers]) => ({ ...request, attack, headers })))

  it.each(cases)('$route refuses $attack with 401 and changes nothing', async ({ method, path, body, headers }) => {
    const before = await stateFingerprint()
    const anonymous = new ApiClient(runtime.url, undefined)
    const res = await anonymous.request(method, path, body, await headers())
    expect(res.status).toBe(401)
    expect(res.json.error.code).toBe('UNAUTHORIZED')
    expect(await stateFingerprint()).toEqual(before)
  })

  it('does not take a token from the query string or a cookie', async () => {
    const token = await tokenFor('alice')
    const anonymous = new ApiClient(runtime.url, undefined)
    expect((await anonymous.request('GET', `/files?access_token=${token}`)).status).toBe(401)
    expect((await anonymous.request('GET', '/files', undefined, { cookie: `token=${token}; Authorization=Bearer ${token}` })).status).toBe(401)
  })

  it('serves /health without a token', async () => {
    const res = await new ApiClient(runtime.url, undefined).request('GET', '/health')
    expect(res.status).toBe(200)
    expect(res.json.status).toBe('ok')
  })

  it('accepts any subject of up to 255 well-formed characters as an owner of its own', async () => {
    await resetState()
    const subject = `🦄 Ünïcødé 用户 ${'ß'.repeat(200)}`.padEnd(254, '∑') + '😀'
    expect([...subject].length).toBeLessThanOrEqual(255)
    const owner = new ApiClient(runtime.url, await tokenFor(subject))
    const bytes = Buffer.from('a,b\n1,2\n')
    const { post } = await owner.upload(bytes)
    expect((await owner.confirm({ file_id: post.file_id, file_size: bytes.length })).status).toBe(200)
    expect((await owner.waitForStatus(post.file_id)).json.content).toBe('a,b\n1,2\n')
    expect((await owner.list()).json.files.map((f: { id: string }) => f.id)).toEqual([post.file_id])
    expect((await alice.getFile(post.file_id)).status).toBe(404)
    const row = await deps().db.selectFrom('files').select(['owner_id', 'object_key']).executeTakeFirstOrThrow()
    expect(row).toEqual({ owner_id: subject, object_key: objectKeyFor(subject, post.file_id) })
  })
})

describe('owner isolation', () => {
  beforeEach(resetState)

  async function aliceSyncedFile() {
    const bytes = Buffer.from('secret,data\n1,2\n')
    const { post } = await alice.upload(bytes, { filename: 'alice-secrets.csv', external_id: 'alice-batch' })
    await alice.confirm({ file_id: post.file_id, file_size: bytes.length })
    await alice.waitForStatus(post.file_id)
    return { id: post.file_id, bytes }
  }

  it("answers B's read of A's file exactly as it answers a file that does not exist", async () => {
    const { id } = await aliceSyncedFile()
    const theirs = await bob.getFile(id)
    const missing = await bob.getFile(uuid)
    expect(theirs.status).toBe(404)
    expect(theirs.json).toEqual(missing.json)
    expect(theirs.json).toEqual({ error: { code: 'FILE_NOT_FOUND', message: 'File not found' } })
    expect(theirs.text).not.toContain('secret')
  })

  it('does not let subjects that differ only in case or normalization share files', async () => {
    const { id } = await aliceSyncedFile()
    for (const lookalike of ['Alice', 'alice ', 'ａｌｉｃｅ']) {
      const other = new ApiClient(runtime.url, await tokenFor(lookalike))
      expect((await other.getFile(id)).status).toBe(404)
      expect((await other.list()).json.files).toEqual([])
    }
  })

  it("lets B neither confirm A's pending upload nor learn that it exists", async () => {
    const bytes = Buffer.from('x,y\n')
    const { post } = await alice.upload(bytes)
    const before = await stateFingerprint()

    const single = await bob.confirm({ file_id: post.file_id, file_size: bytes.length })
    expect(single.status).toBe(404)
    expect(single.json.error.code).toBe('FILE_NOT_FOUND')
    const batch = await bob.confirm({ uploads: [{ file_id: post.file_id, file_size: bytes.length }] })
    expect(batch.status).toBe(200)
    expect(batch.json).toEqual({ confirmed: 0, files: [], failed: [{ file_id: post.file_id, error: { code: 'FILE_NOT_FOUND', message: 'File not found' } }] })

    expect(await stateFingerprint()).toEqual(before)
    expect((await alice.getFile(post.file_id)).json.file.status).toBe('PENDING')
  })

  it("shows B an empty list, even when B filters by A's external id", async () => {
    const { id } = await aliceSyncedFile()
    expect((await bob.list()).json).toEqual({ files: [], next_cursor: null })
    expect((await bob.list({ external_id: 'alice-batch' })).json).toEqual({ files: [], next_cursor: null })
    expect((await alice.list({ external_id: 'alice-batch' })).json.files.map((f: { id: string }) => f.id)).toEqual([id])
  })

  it("does not let B page into A's files with A's cursor", async () => {
    for (let i = 0; i < 3; i++) await alice.presign({ filename: `f${i}.csv`, external_id: 'paged' })
    const page = await alice.list({ limit: '1' })
    expect(page.json.next_cursor).toEqual(expect.any(String))
    expect((await bob.list({ cursor: page.json.next_cursor })).json).toEqual({ files: [], next_cursor: null })
  })

  it('keys objects by a hash of the owner and the file id, never by anything the client chose', async () => {
    const res = await alice.presign({ filename: '.._.._evil.csv', external_id: '../x' })
    expect(res.status).toBe(201)
    const key = res.json.form_fields.key as string
    expect(key).toBe(objectKeyFor('alice', res.json.file_id))
    expect(key).toMatch(/^uploads\/[0-9a-f]{32}\/[0-9a-f-]{36}$/)
    expect(objectKeyFor('bob', res.json.file_id)).not.toBe(key)
  })
})

describe('input at the edge', () => {
  beforeEach(resetState)

  const hostileFilenames: [string, string][] = [
    ['a traversal with slashes', '../../etc/passwd'],
    ['a traversal with backslashes', '..\\..\\windows\\system32'],
    ['a nested path', 'reports/2026/q1.csv'],
    ['the parent directory', '..'],
    ['the current directory', '.'],
    ['an empty name', ''],
    ['only spaces', '   '],
    ['a NUL byte', 'report\u0000.csv'],
    ['a newline (header injection)', 'report.csv\r\nX-Injected: 1'],
    ['DEL', 'report\u007f.csv'],
    ['a right-to-left override disguising the extension', 'invoice\u202Efdp.exe'],
    ['a zero-width space', 'rep\u200Bort.csv'],
    ['an unpaired surrogate', 'report\ud800.csv'],
    ['256 characters', `${'a'.repeat(252)}.csv`],
  ]

  it.each(hostileFilenames)('refuses a filename with %s with 400 and stores nothing', async (_, filename) => {
    const before = await stateFingerprint()
    const res = await alice.presign({ filename, external_id: 'e' })
    expect(res.status).toBe(400)
    expect(res.json.error.code).toBe('VALIDATION_FAILED')
    expect(JSON.stringify(res.json.error.details)).toContain('filename')
    expect(await stateFingerprint()).toEqual(before)
  })

  it('stores filenames in NFC, so one name has one spelling', async () => {
    const res = await alice.presign({ filename: 'Cafe\u0301.csv', external_id: 'e' })
    expect(res.status).toBe(201)
    expect((await alice.getFile(res.json.file_id)).json.file.filename).toBe('Café.csv')
  })

  const refusals: [string, Record<string, unknown> | string, number, string][] = [
    ['a Content-Type outside the allow-list', { filename: 'a.html', external_id: 'e', content_type: 'text/html' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['SVG, which a browser executes', { filename: 'a.svg', external_id: 'e', content_type: 'image/svg+xml' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a Content-Type with parameters', { filename: 'a.csv', external_id: 'e', content_type: 'text/csv; charset=utf-8' }, 400, 'VALIDATION_FAILED'],
    ['a Content-Type with a newline', { filename: 'a.csv', external_id: 'e', content_type: 'text/csv\r\nx: y' }, 400, 'VALIDATION_FAILED'],
    ['a declared size above the maximum', { filename: 'a.csv', external_id: 'e', file_size: S3_MAX_OBJECT_SIZE + 1 }, 413, 'PAYLOAD_TOO_LARGE'],
    ['a zero size', { filename: 'a.csv', external_id: 'e', file_size: 0 }, 400, 'VALIDATION_FAILED'],
    ['a negative size', { filename: 'a.csv', external_id: 'e', file_size: -1 }, 400, 'VALIDATION_FAILED'],
    ['a fractional size', { filename: 'a.csv', external_id: 'e', file_size: 1.5 }, 400, 'VALIDATION_FAILED'],
    ['a size given as a string', { filename: 'a.csv', external_id: 'e', file_size: '10' }, 400, 'VALIDATION_FAILED'],
    ['a sha256 that is not 64 hex digits', { filename: 'a.csv', external_id: 'e', sha256: 'abc' }, 400, 'VALIDATION_FAILED'],
    ['an external id with control characters', { filename: 'a.csv', external_id: 'e\u0000' }, 400, 'VALIDATION_FAILED'],
    ['an external id of 256 characters', { filename: 'a.csv', external_id: 'e'.repeat(256) }, 400, 'VALIDATION_FAILED'],
    ['a missing external id', { filename: 'a.csv' }, 400, 'VALIDATION_FAILED'],
    ['a JSON array', '[]', 400, 'VALIDATION_FAILED'],
    ['invalid JSON', '{"filename":', 400, 'VALIDATION_FAILED'],
    ['a body over 64 KiB', { filename: 'a.csv', external_id: 'e', padding: 'x'.repeat(MAX_BODY_BYTES) }, 413, 'PAYLOAD_TOO_LARGE'],
  ]

  it.each(refusals)('refuses a presign with %s and stores nothing', async (_, body, status, code) => {
    const before = await stateFingerprint()
    const res = await alice.presign(body as Record<string, unknown>)
    expect(res.status).toBe(status)
    expect(res.json.error.code).toBe(code)
    expect(await stateFingerprint()).toEqual(before)
  })

  const confirmRefusals: [string, unknown][] = [
    ['a file id that is not a UUID', { file_id: '../../etc/passwd', file_size: 1 }],
    ['an empty batch', { uploads: [] }],
    [`a batch over ${MAX_CONFIRM_BATCH}`, { uploads: Array.from({ length: MAX_CONFIRM_BATCH + 1 }, (_, i) => ({ file_id: uuid.replace(/.{3}$/, String(i).padStart(3, '0')), file_size: 1 })) }],
    ['a SQL fragment as the id', { file_id: "' or 1=1 --", file_size: 1 }],
  ]

  it.each(confirmRefusals)('refuses a confirm with %s with 400 and changes nothing', async (_, body) => {
    await alice.presign({ filename: 'a.csv', external_id: 'e' })
    const before = await stateFingerprint()
    const res = await alice.confirm(body)
    expect(res.status).toBe(400)
    expect(res.json.error.code).toBe('VALIDATION_FAILED')
    expect(await stateFingerprint()).toEqual(before)
  })

  it('confirms a file a batch repeats once, and fails the repeat as that item\'s VALIDATION_FAILED', async () => {
    const bytes = Buffer.from('a,b')
    const { post } = await alice.upload(bytes)
    const res = await alice.confirm({ uploads: [{ file_id: post.file_id, file_size: 3 }, { file_id: post.file_id, file_size: 99 }] })
    expect(res.status).toBe(200)
    expect(res.json).toEqual({
      confirmed: 1,
      files: [{ file_id: post.file_id, status: 'UPLOADED' }],
      failed: [{ file_id: post.file_id, error: { code: 'VALIDATION_FAILED', message: expect.stringContaining('more than once') } }],
    })
  })

  it.each([
    ['a path id that is not a UUID', '/files/not-a-uuid'],
    ['an encoded traversal as the path id', '/files/..%2F..%2Fetc%2Fpasswd'],
    ['a malformed percent escape as the path id', '/files/%E0%A4%A'],
    ['a list limit out of range', '/files?limit=1000'],
    ['a list filter with a NUL', '/files?external_id=%00'],
    ['a forged cursor with a non-UUID id', `/files?cursor=${Buffer.from(JSON.stringify(['2026-01-01T00:00:00.000Z', "x' or 1=1"])).toString('base64url')}`],
    ['a cursor with SQL after the position', `/files?cursor=0.${uuid}'%20or%201=1`],
    ['a forged cursor with an out-of-range date', `/files?cursor=${Buffer.from(JSON.stringify(['-271821-04-20T00:00:00.000Z', uuid])).toString('base64url')}`],
  ])('refuses a read with %s with 400', async (_, path) => {
    const res = await alice.request('GET', path)
    expect(res.status).toBe(400)
    expect(res.json.error.code).toBe('VALIDATION_FAILED')
  })

  it('answers a request target that is not a valid URL with a 404 and keeps serving', async () => {
    const res = await rawRequest(runtime.url, { method: 'GET', path: '//%E0%A4%A/files', headers: {} })
    expect(res.status).toBe(404)
    expect(JSON.parse(res.text).error.code).toBe('ROUTE_NOT_FOUND')
    expect((await alice.list()).status).toBe(200)
  })
})

describe('the web fallback (the page and /openapi.json, as npm start serves them)', () => {
  let withPage: LocalRuntime
  beforeAll(async () => {
    withPage = await startRuntime({ fallback: webFallback({ root, storageOrigin: process.env.AWS_ENDPOINT_URL! }) })
  })
  afterAll(() => withPage.close())

  it('serves the page', async () => {
    expect((await rawRequest(withPage.url, { method: 'GET', path: '/' })).status).toBe(200)
  })

  // GET and HEAD go on to the fallback when no route matches; it once parsed the target with new URL() and answered 500.
  it.each(
    ['//%zz', '//[::1', 'http://local:99999/', '//[::1]:99999/openapi.json', 'http://[::1/', '//%E0%A4%A/index.html'].flatMap((path) =>
      ['GET', 'HEAD'].map((method) => ({ method, path })),
    ),
  )('answers the malformed request target $method $path with a 404 and keeps serving', async ({ method, path }) => {
    const res = await rawRequest(withPage.url, { method, path })
    expect(res.status).toBe(404)
    if (method === 'GET') expect(JSON.parse(res.text).error.code).toBe('ROUTE_NOT_FOUND')
    expect((await rawRequest(withPage.url, { method: 'GET', path: '/openapi.json' })).status).toBe(200)
  })
})

describe('storage enforces the presigned policy', () => {
  beforeEach(resetState)

  async function presign(client: ApiClient, size: number): Promise<PresignBody> {
    const res = await client.presign({ filename: 'a.csv', external_id: 'e', file_size: size })
    expect(res.status).toBe(201)
    return res.json
  }
  const policyOf = (post: PresignBody) => JSON.parse(Buffer.from(post.form_fields.Policy!, 'base64').toString('utf8'))

  it('refuses an upload larger than declared, and one smaller', async () => {
    const post = await presign(alice, 10)
    expect(await postToStorage(post, Buffer.alloc(11, 1))).toMatchObject({ status: 400, body: expect.stringContaining('EntityTooLarge') })
    expect(await postToStorage(post, Buffer.alloc(9, 1))).toMatchObject({ status: 400, body: expect.stringContaining('EntityTooSmall') })
    expect(await headObject(post.form_fields.key!)).toBeUndefined()
  })

  it('bounds an upload without a declared size to 1 byte up to the maximum, refusing an empty one', async () => {
    const res = await alice.presign({ filename: 'a.csv', external_id: 'e' })
    const range = policyOf(res.json).conditions.find((c: unknown) => Array.isArray(c) && c[0] === 'content-length-range')
    expect(range).toEqual(['content-length-range', 1, res.json.max_file_size])
    expect(await postToStorage(res.json, new Uint8Array(0))).toMatchObject({ status: 400 })
    expect(await headObject(res.json.form_fields.key)).toBeUndefined()
  })

  it('refuses an upload that changes the Content-Type field', async () => {
    const post = await presign(alice, 10)
    const res = await postToStorage(post, Buffer.alloc(10, 1), { fields: { 'Content-Type': 'text/html' } })
    expect(res.status).toBe(403)
    expect(await headObject(post.form_fields.key!)).toBeUndefined()
  })

  it("stores the policy's Content-Type whatever the file part claims", async () => {
    const post = await presign(alice, 10)
    expect((await postToStorage(post, Buffer.alloc(10, 1), { contentType: 'text/html' })).status).toBe(204)
    expect(await headObject(post.form_fields.key!)).toEqual({ size: 10, contentType: 'text/csv' })
  })

  it("refuses B's upload aimed at A's object key and leaves A's object as it was", async () => {
    const bytes = Buffer.from('alice,original\n')
    const { post: alicePost } = await alice.upload(bytes)
    const bobPost = await presign(bob, bytes.length)
    const res = await postToStorage(bobPost, Buffer.from('bob,overwrote!\n'), { fields: { key: alicePost.form_fields.key! } })
    expect(res.status).toBe(403)
    expect(await headObject(bobPost.form_fields.key!)).toBeUndefined()
    await alice.confirm({ file_id: alicePost.file_id, file_size: bytes.length })
    expect((await alice.waitForStatus(alicePost.file_id)).json.file.sha256).toBe(sha256(bytes))
  })

  it('refuses an upload that changes the file-id metadata', async () => {
    const post = await presign(alice, 10)
    expect((await postToStorage(post, Buffer.alloc(10, 1), { fields: { 'x-amz-meta-file-id': uuid } })).status).toBe(403)
    expect(await headObject(post.form_fields.key!)).toBeUndefined()
  })

  it('refuses an upload after the presigned POST expired, and the confirm finds nothing', async () => {
    const shortLived = createDeps(loadConfig({ ...process.env, UPLOAD_URL_TTL_SECONDS: '1', DATABASE_POOL_MAX: '1' }))
    try {
      const post = mustBePost(await presignUpload(shortLived, 'alice', { filename: 'late.csv', external_id: 'e', file_size: 4 }))
      const policy = JSON.parse(Buffer.from(post.form_fields.Policy!, 'base64').toString('utf8'))
      // The policy's expiration has one-second resolution: wait until it is certainly past.
      await sleep(Date.parse(policy.expiration) - Date.now() + 1_100)
      const res = await postToStorage(post, Buffer.from('late'))
      expect(res.status).toBe(403)
      expect(res.body).toContain('expired')
      expect(await headObject(post.form_fields.key!)).toBeUndefined()
      await expect(confirmUploads(shortLived, 'alice', { file_id: post.file_id, file_size: 4 })).rejects.toMatchObject({ code: 'UPLOAD_NOT_FOUND' })
    } finally {
      await shortLived.close()
    }
  })

  it('hands out a policy in which every form field is bound by a condition and nothing grants an ACL', async () => {
    const post = await presign(alice, 10)
    const { conditions } = policyOf(post)
    const bound = new Set<string>()
    for (const condition of conditions) {
      if (Array.isArray(condition)) {
        if (condition[0] === 'eq') bound.add(String(condition[1]).slice(1).toLowerCase())
        expect(condition[0]).not.toBe('starts-with')
      } else {
        for (const field of Object.keys(condition)) bound.add(field.toLowerCase())
      }
    }
    for (const field of Object.keys(post.form_fields)) {
      if (field === 'Policy' || field === 'X-Amz-Signature') continue
      expect(bound).toContain(field.toLowerCase())
    }
    expect([...bound].filter((f) => f.includes('acl') || f.startsWith('x-amz-grant') || f === 'success_action_redirect')).toEqual([])
    // LocalStack ignores extra fields (S3 refuses them as not in the policy), so this is all it can show.
    expect(JSON.stringify(conditions)).not.toContain('public-read')
  })
})

describe('integrity', () => {
  beforeEach(resetState)

  it('marks a file FAILED with CHECKSUM_MISMATCH when its bytes differ from the declared sha256, and never serves them', async () => {
    const declared = sha256(Buffer.from('what the client meant to send'))
    const bytes = Buffer.from('what actually arrived')
    const { post } = await alice.upload(bytes, { sha256: declared })
    expect((await alice.confirm({ file_id: post.file_id, file_size: bytes.length })).status).toBe(200)
    const res = await alice.waitForStatus(post.file_id)
    expect(res.json.file.status).toBe('FAILED')
    expect(res.json.file.error.code).toBe('CHECKSUM_MISMATCH')
    expect(res.json.file.sha256).toBeNull()
    expect(res.json).toMatchObject({ content: null, download_url: null })
    const redis = new Redis(process.env.REDIS_URL!)
    try {
      expect(await redis.exists(contentKey(post.file_id))).toBe(0)
    } finally {
      redis.disconnect()
    }
  })

  it('syncs a file whose bytes match the declared sha256, in either case', async () => {
    const bytes = Buffer.from('checked,content\n')
    const { post } = await alice.upload(bytes, { sha256: sha256(bytes).toUpperCase() })
    await alice.confirm({ file_id: post.file_id, file_size: bytes.length })
    expect((await alice.waitForStatus(post.file_id)).json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes), error: null })
  })
})
