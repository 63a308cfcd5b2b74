import { describe, expect, it } from 'vitest'
import { httpRoute, MAX_SUBJECT_LENGTH } from '../../../functions/core/middleware/http.js'
import { apiEvent, context } from '../../fixtures/events.js'

const whoami = httpRoute({}, async ({ ownerId }) => ({ body: { owner: ownerId } }))
const call = (claims: Record<string, unknown> | undefined) => {
  const event = apiEvent({ method: 'GET', path: '/' })
  event.requestContext.authorizer = claims && { principalId: '', integrationLatency: 0, jwt: { claims: claims as Record<string, string>, scopes: [] } }
  return whoami(event, context())
}

describe('the owner taken from the token subject', () => {
  it.each([
    ['a UUID', '0b9c5f0e-6d3a-4c1b-8f2e-7a6d5c4b3a21'],
    ['a provider-prefixed id', 'google-oauth2|104857392017465839201'],
    ['an email address', 'ada@example.com'],
    ['non-Latin text and emoji', '用户-ユーザー-🦄'],
    [`${MAX_SUBJECT_LENGTH} astral characters`, '😀'.repeat(MAX_SUBJECT_LENGTH)],
  ])('is %s, exactly as issued', async (_, sub) => {
    const response = await call({ sub })
    expect(response.statusCode).toBe(200)
    expect(JSON.parse(response.body!)).toEqual({ owner: sub })
  })

  it.each([
    ['missing', {}],
    ['empty', { sub: '' }],
    // A claim that arrives with its JSON type must not become an owner: ["alice"] and '["alice"]' would be one.
    ['a number', { sub: 42 }],
    ['an array', { sub: ['alice'] }],
    ['an object', { sub: { id: 'alice' } }],
    ['null', { sub: null }],
    ['a boolean', { sub: true }],
    [`longer than ${MAX_SUBJECT_LENGTH} characters`, { sub: 'a'.repeat(MAX_SUBJECT_LENGTH + 1) }],
    ['carrying a NUL, which Postgres text cannot store', { sub: 'alice\u0000' }],
    ['an unpaired surrogate, which would collide with U+FFFD', { sub: 'alice\udc00' }],
  ])('is refused with 401 when it is %s', async (_, claims) => {
    const response = await call(claims)
    expect(response.statusCode).toBe(401)
    expect(response.headers).toMatchObject({ 'WWW-Authenticate': 'Bearer' })
    expect(JSON.parse(response.body!).error.code).toBe('UNAUTHORIZED')
  })

  it('is refused with 401 when the event carries no authorizer at all', async () => {
    expect((await call(undefined)).statusCode).toBe(401)
  })
})
