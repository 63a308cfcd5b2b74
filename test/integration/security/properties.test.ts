import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LocalRuntime } from '../../../bin/local/runtime.js'
import { ERROR_STATUS } from '../../../functions/core/middleware/http-errors.js'
import { MAX_CONFIRM_BATCH } from '../../../functions/core/schemas.js'
import { ApiClient, resetState, startRuntime, tokenFor } from '../../fixtures/pipeline.js'
import { forgeToken, outboxDrained, rawRequest, stateFingerprint, unsignedToken, type RawResponse, type StateFingerprint } from '../../fixtures/security.js'

/**
 * Property-based hostile input over every route: whatever the body, query, path id, headers or
 * token, the API answers with a JSON document and a status below 500, within a bounded time, and a
 * refusal (4xx) leaves the database and the bucket exactly as they were.
 */

// FC_RUNS=2000 for a deeper search; FC_SEED=<seed from a failure> to replay one.
const RUNS = Number(process.env.FC_RUNS ?? 150)
const SEED = process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}

let runtime: LocalRuntime
let tokens: { alice: string; bob: string }
const seeded = { aliceSynced: '', alicePending: '', bobPending: '' }
let baseline: StateFingerprint

beforeAll(async () => {
  await resetState()
  runtime = await startRuntime()
  tokens = { alice: await tokenFor('alice'), bob: await tokenFor('bob') }
  const alice = new ApiClient(runtime.url, tokens.alice)
  const bob = new ApiClient(runtime.url, tokens.bob)
  const bytes = Buffer.from('id,value\n1,2\n')
  const { post } = await alice.upload(bytes, { filename: 'seed.csv', external_id: 'seed' })
  await alice.confirm({ file_id: post.file_id, file_size: bytes.length })
  await alice.waitForStatus(post.file_id, ['SYNCED'])
  seeded.aliceSynced = post.file_id
  seeded.alicePending = (await alice.presign({ filename: 'pending.csv', external_id: 'seed', file_size: 5 })).json.file_id
  seeded.bobPending = (await bob.presign({ filename: 'bob.csv', external_id: 'seed' })).json.file_id
  await outboxDrained()
  baseline = await stateFingerprint()
})
afterAll(async () => {
  await runtime.close()
})

interface Attempt {
  method: string
  path: string
  headers: Record<string, string>
  body?: string | Buffer
}

/** Sends one request and checks the invariants; returns the response for route-specific checks. */
async function attempt(input: Attempt): Promise<RawResponse> {
  const res = await rawRequest(runtime.url, input)
  const context = `${input.method} ${input.path} -> ${res.status} ${res.text.slice(0, 300)}`
  expect(res.status, context).toBeGreaterThanOrEqual(200)
  expect(res.status, context).toBeLessThan(500)
  expect(String(res.headers['content-type']), context).toMatch(/^application\/json/)
  const body = JSON.parse(res.text)
  const after = await stateFingerprint()
  if (res.status >= 400) {
    expect(Object.keys(ERROR_STATUS), context).toContain(body.error.code)
    expect(ERROR_STATUS[body.error.code as keyof typeof ERROR_STATUS], context).toBe(res.status)
    expect(after, `a refusal changed the state: ${context}`).toEqual(baseline)
  }
  baseline = after
  return res
}

// ---- generators --------------------------------------------------------------------------------

const hostileStrings = fc.constantFrom(
  '', ' ', '.', '..', '../../etc/passwd', '..\\..\\win.ini', 'a/b', '\u0000', '\r\n', '\u202Etxt.exe', '\ud800', '%00', '%2e%2e%2f',
  "'; drop table files; --", '${jndi:ldap://127.0.0.1/x}', '<script>alert(1)</script>', '{{7*7}}', '\uFEFF', 'x'.repeat(300), '😀'.repeat(200),
)
const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ maxLength: 40 }), hostileStrings)
const sizes = fc.oneof(fc.integer(), fc.double(), fc.bigInt().map(String), fc.constantFrom(0, -1, 1, 5, 2 ** 53, 5 * 1024 ** 3 + 1, 1e308), text)
const fileIds = () => fc.oneof(fc.uuid(), fc.constantFrom(seeded.aliceSynced, seeded.alicePending, seeded.bobPending), text)

const presignBodies = fc.record(
  {
    filename: fc.oneof(text, fc.constantFrom('a.csv', 'report.pdf', 'Café.txt')),
    external_id: fc.oneof(text, fc.constant('seed')),
    content_type: fc.oneof(text, fc.constantFrom('text/csv', 'text/html', 'image/svg+xml', 'TEXT/CSV', 'text/csv; charset=utf-8')),
    file_size: sizes,
    sha256: fc.oneof(text, fc.stringMatching(/^[0-9a-fA-F]{64}$/)),
  },
  { requiredKeys: [] },
)
const confirmItem = () => fc.record({ file_id: fileIds(), file_size: sizes }, { requiredKeys: [] })
const confirmBodies = () =>
  fc.oneof(confirmItem(), fc.record({ uploads: fc.oneof(fc.array(confirmItem(), { maxLength: MAX_CONFIRM_BATCH + 5 }), fc.jsonValue()) }, { requiredKeys: [] }))

/** A body: structured and near-valid, any JSON, or bytes that are not JSON at all. */
const bodyOf = (structured: fc.Arbitrary<unknown>): fc.Arbitrary<string | Buffer | undefined> =>
  fc.oneof(
    { weight: 4, arbitrary: structured.map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  )

const authorization = () =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(`Bearer ${tokens.alice}`) },
    { weight: 2, arbitrary: fc.constant(`Bearer ${tokens.bob}`) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.stringMatching(/^(Bearer |Basic |bearer )?[\x21-\x7e]{0,120}$/) },
    { weight: 1, arbitrary: fc.constant(`Bearer ${unsignedToken({ sub: 'alice' })}`) },
  )

const headerName = fc.oneof(
  fc.constantFrom('accept', 'content-type', 'cookie', 'user-agent', 'origin', 'referer', 'x-forwarded-for', 'x-amz-date', 'content-encoding', 'x-http-method-override'),
  fc.stringMatching(/^x-[a-z0-9-]{1,20}$/),
)
// Node's client accepts visible ASCII and Latin-1 in header values, and no control characters.
const headerValue = fc.oneof(
  fc.stringMatching(/^[\x21-\x7e\x80-\xff]([\x20-\x7e\x80-\xff]{0,80}[\x21-\x7e\x80-\xff])?$/),
  fc.constantFrom('application/json', 'application/octet-stream', 'text/plain', 'multipart/form-data; boundary=x', 'gzip', 'POST', 'DELETE'),
)
const extraHeaders = fc.dictionary(headerName, headerValue, { maxKeys: 6 })

const headersWith = (auth: string | undefined, extra: Record<string, string>): Record<string, string> => ({
  ...extra,
  ...(auth === undefined ? {} : { authorization: auth }),
})

/** Percent-encodes the UTF-8 bytes of any string, unpaired surrogates included (encodeURIComponent throws on those). */
const percentEncode = (s: string): string =>
  [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('')

/** A path segment as a client might send it: encoded text, or raw percent sequences, valid or not. */
const pathSegment = fc.oneof(
  text.map(percentEncode),
  fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,40}$/),
  fc.constantFrom('%', '%zz', '%E0%A4%A', '..', '%2e%2e', '%2F', '%00'),
)

const queryString = () =>
  fc.oneof(
    fc
      .dictionary(fc.oneof(fc.constantFrom('external_id', 'limit', 'cursor'), fc.string({ maxLength: 10 })), fc.oneof(text, fc.integer().map(String)), { maxKeys: 4 })
      .map((q) => new URLSearchParams(q).toString()),
    fc
      .tuple(fc.date({ noInvalidDate: false }), fc.oneof(fc.uuid(), text))
      .map(([date, id]) => `cursor=${Buffer.from(JSON.stringify([Number.isNaN(date.getTime()) ? 'not a date' : date.toISOString(), id])).toString('base64url')}`),
    fc.stringMatching(/^[A-Za-z0-9=&%._~-]{0,60}$/),
  )

const params = { numRuns: RUNS, endOnFailure: true, ...SEED }

// ---- properties ---------------------------------------------------------------------------------

describe('no input yields a 5xx, a hang or a change after a refusal', () => {
  it('POST /files/presigned-upload', async () => {
    await fc.assert(
      fc.asyncProperty(bodyOf(presignBodies), authorization(), extraHeaders, async (body, auth, extra) => {
        const res = await attempt({ method: 'POST', path: '/files/presigned-upload', headers: headersWith(auth, { 'content-type': 'application/json', ...extra }), body })
        if (res.status === 201) expect(auth).toMatch(/^Bearer /)
      }),
      params,
    )
  })

  it('POST /files/confirm-uploads', async () => {
    await fc.assert(
      fc.asyncProperty(bodyOf(confirmBodies()), authorization(), extraHeaders, async (body, auth, extra) => {
        const res = await attempt({ method: 'POST', path: '/files/confirm-uploads', headers: headersWith(auth, { 'content-type': 'application/json', ...extra }), body })
        // Nothing has an object in storage except the SYNCED file, so no confirm can move anything.
        if (res.status === 200) expect(JSON.parse(res.text).files.every((f: { status: string }) => f.status === 'SYNCED')).toBe(true)
      }),
      params,
    )
  })

  it('GET /files/{id}', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fileIds().map(percentEncode), pathSegment), authorization(), extraHeaders, async (id, auth, extra) => {
        const res = await attempt({ method: 'GET', path: `/files/${id}`, headers: headersWith(auth, extra) })
        // A file is readable by its owner only.
        if (res.status === 200) {
          const owned = auth === `Bearer ${tokens.alice}` ? [seeded.aliceSynced, seeded.alicePending] : auth === `Bearer ${tokens.bob}` ? [seeded.bobPending] : []
          expect(owned).toContain(JSON.parse(res.text).file.id)
        }
      }),
      params,
    )
  })

  it('GET /files', async () => {
    await fc.assert(
      fc.asyncProperty(queryString(), authorization(), extraHeaders, async (query, auth, extra) => {
        const res = await attempt({ method: 'GET', path: `/files${query ? `?${query}` : ''}`, headers: headersWith(auth, extra) })
        if (res.status === 200 && auth === `Bearer ${tokens.bob}`) {
          expect(JSON.parse(res.text).files.map((f: { id: string }) => f.id)).not.toContain(seeded.aliceSynced)
        }
      }),
      params,
    )
  })

  it('GET /health', async () => {
    await fc.assert(
      fc.asyncProperty(queryString(), authorization(), extraHeaders, async (query, auth, extra) => {
        const res = await attempt({ method: 'GET', path: `/health${query ? `?${query}` : ''}`, headers: headersWith(auth, extra) })
        expect(res.status).toBe(200)
      }),
      params,
    )
  })

  it('any method on any path', async () => {
    const methods = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'PROPFIND')
    const paths = fc.oneof(
      fc.array(pathSegment, { minLength: 0, maxLength: 4 }).map((segments) => `/${segments.join('/')}`),
      fc.array(pathSegment, { maxLength: 2 }).map((segments) => `/files/${segments.join('/')}`),
    )
    await fc.assert(
      fc.asyncProperty(methods, paths, authorization(), bodyOf(fc.jsonValue()), async (method, path, auth, body) => {
        // HEAD answers carry no body to parse; the invariant is the status and the state.
        if (method === 'HEAD') {
          const res = await rawRequest(runtime.url, { method, path, headers: headersWith(auth, {}) })
          expect(res.status).toBeLessThan(500)
          expect(await stateFingerprint()).toEqual(baseline)
          return
        }
        await attempt({ method, path, headers: headersWith(auth, { 'content-type': 'application/json' }), body: method === 'GET' ? undefined : body })
      }),
      params,
    )
  })

  it('any token subject is an owner of its own or refused with 401', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 100 }), hostileStrings), async (sub) => {
        const auth = `Bearer ${await forgeToken({ sub })}`
        const presign = await attempt({
          method: 'POST',
          path: '/files/presigned-upload',
          headers: { authorization: auth, 'content-type': 'application/json' },
          body: JSON.stringify({ filename: 'mine.csv', external_id: 'prop' }),
        })
        const list = await attempt({ method: 'GET', path: '/files?external_id=prop', headers: { authorization: auth } })
        if (sub === 'alice') return
        expect([201, 401]).toContain(presign.status)
        expect(list.status).toBe(presign.status === 201 ? 200 : 401)
        if (presign.status !== 201) return
        const id = JSON.parse(presign.text).file_id as string
        expect(JSON.parse(list.text).files.map((f: { id: string }) => f.id)).toContain(id)
        const theirs = await attempt({ method: 'GET', path: `/files/${id}`, headers: { authorization: `Bearer ${tokens.alice}` } })
        expect(theirs.status).toBe(404)
      }),
      { ...params, numRuns: Math.ceil(RUNS / 2) },
    )
  })
})
