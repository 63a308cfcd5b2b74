import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { authOptionsFromEnv, createVerifier } from '../../../bin/local/auth.js'
import type { LocalRuntime } from '../../../bin/local/runtime.js'
import { ApiClient, resetState, startRuntime, tokenFor } from '../../fixtures/pipeline.js'
import { unsignedToken } from '../../fixtures/security.js'

const ISSUER = 'https://idp.test.local/'
const AUDIENCE = 'upload-pipeline-api'

let jwks: Server
let runtime: LocalRuntime
let signingKey: CryptoKey
let publicJwk: JWK
let publicPem: string
let jwksRequests = 0

function sign(claims: JWTPayload, options: { key?: CryptoKey | Uint8Array; alg?: string; kid?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 600, ...claims })
    .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? 'test-key-1', typ: 'JWT' })
    .sign(options.key ?? signingKey)
}

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true })
  signingKey = pair.privateKey
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' }
  publicPem = await exportSPKI(pair.publicKey)
  // An identity provider's JWKS endpoint, on loopback only.
  jwks = createServer((req, res) => {
    jwksRequests += 1
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ keys: [publicJwk] }))
  })
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
  const { port } = jwks.address() as AddressInfo
  const options = authOptionsFromEnv({
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
  })
  runtime = await startRuntime({ verify: createVerifier(options) })
})
afterAll(async () => {
  await runtime?.close()
  await new Promise<void>((resolve) => jwks.close(() => resolve()))
})
beforeEach(resetState)

describe('the local runtime with a JWKS issuer (as API Gateway with a real identity provider)', () => {
  it("accepts an RS256 token signed by the issuer's key and makes its sub the owner", async () => {
    const api = new ApiClient(runtime.url, await sign({ sub: 'idp|user-1' }))
    const res = await api.presign({ filename: 'a.csv', external_id: 'e' })
    expect(res.status).toBe(201)
    expect((await api.list()).json.files.map((f: { id: string }) => f.id)).toEqual([res.json.file_id])
    expect(jwksRequests).toBeGreaterThan(0)
  })

  const forgeries: [string, () => Promise<string>][] = [
    ['signed by another RSA key under the same kid', async () => sign({ sub: 'idp|user-1' }, { key: (await generateKeyPair('RS256')).privateKey })],
    ['with a kid the JWKS does not have', async () => sign({ sub: 'idp|user-1' }, { kid: 'rotated-away' })],
    [
      'HS256 with the public key as the HMAC secret (algorithm confusion)',
      async () => sign({ sub: 'idp|user-1' }, { alg: 'HS256', key: new TextEncoder().encode(publicPem) }),
    ],
    ['the local development token', () => tokenFor('idp|user-1')],
    ['unsigned (alg=none)', async () => unsignedToken({ sub: 'idp|user-1', iss: ISSUER, aud: AUDIENCE })],
    ['for another audience', () => sign({ sub: 'idp|user-1', aud: 'someone-else' })],
    ['from another issuer', () => sign({ sub: 'idp|user-1', iss: 'https://evil.example/' })],
    ['expired', () => sign({ sub: 'idp|user-1', iat: 1_000, exp: 2_000 })],
  ]

  it.each(forgeries)('refuses a token %s with 401', async (_, token) => {
    const res = await new ApiClient(runtime.url, await token()).presign({ filename: 'a.csv', external_id: 'e' })
    expect(res.status).toBe(401)
    expect(res.json.error.code).toBe('UNAUTHORIZED')
  })

  it('refuses HS256 keyed with the JWKS document itself', async () => {
    const token = await sign({ sub: 'idp|user-1' }, { alg: 'HS256', key: new TextEncoder().encode(JSON.stringify(publicJwk)) })
    expect((await new ApiClient(runtime.url, token).list()).status).toBe(401)
  })
})
