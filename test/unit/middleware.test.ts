import { z } from 'zod'
import { describe, expect, it } from 'vitest'
import { AppError, DependencyUnavailableError, RateLimitedError, UnauthorizedError } from '../../functions/core/errors.js'
import { httpRoute, MAX_BODY_BYTES } from '../../functions/core/middleware/http.js'
import { apiEvent, context } from '../fixtures/events.js'

const echo = httpRoute({ body: z.object({ name: z.string().min(1) }), status: 201 }, async ({ body, ownerId }) => ({
  body: { hello: body.name, owner: ownerId },
}))
const failing = (error: unknown) => httpRoute({}, async () => Promise.reject(error))
const headers = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }

describe('the HTTP middleware stack', () => {
  it('passes the validated body and the token subject to the handler', async () => {
    const response = await echo(apiEvent({ body: { name: 'ada' }, sub: 'alice' }), context())
    expect(response).toEqual({ statusCode: 201, headers, body: JSON.stringify({ hello: 'ada', owner: 'alice' }) })
  })

  it('answers 401 without a subject', async () => {
    const response = await echo(apiEvent({ body: { name: 'ada' } }), context())
    expect(response.statusCode).toBe(401)
    expect(response.headers).toMatchObject({ 'WWW-Authenticate': 'Bearer' })
    expect(JSON.parse(response.body!)).toEqual({ error: { code: 'UNAUTHORIZED', message: 'A valid bearer token is required' } })
  })

  it('answers 400 with field details for a body that fails the schema', async () => {
    const response = await echo(apiEvent({ body: { name: '' }, sub: 'alice' }), context())
    expect(response.statusCode).toBe(400)
    expect(JSON.parse(response.body!).error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ field: 'body.name' }] })
  })

  it('answers 400 for a body that is not JSON', async () => {
    const response = await echo(apiEvent({ body: '{"name":', sub: 'alice' }), context())
    expect(JSON.parse(response.body!)).toEqual({ error: { code: 'VALIDATION_FAILED', message: 'Request body is not valid JSON' } })
  })

  it('answers 413 for a body over the limit without parsing it', async () => {
    const response = await echo(apiEvent({ body: `"${'x'.repeat(MAX_BODY_BYTES)}"`, sub: 'alice' }), context())
    expect(response.statusCode).toBe(413)
  })

  it('renders a known error with its status and details', async () => {
    const response = await failing(new AppError('SIZE_MISMATCH', 'too short', { expected: 2, actual: 1 }))(apiEvent({ sub: 'a' }), context())
    expect(response).toEqual({
      statusCode: 409,
      headers,
      body: JSON.stringify({ error: { code: 'SIZE_MISMATCH', message: 'too short', details: { expected: 2, actual: 1 } } }),
    })
  })

  it('turns a rate limit into 429 with Retry-After in whole seconds from the error', async () => {
    const error = new RateLimitedError('slow down', 6.2, { limit: 1 })
    const response = await failing(error)(apiEvent({ sub: 'a' }), context())
    expect(response).toEqual({
      statusCode: 429,
      headers: { ...headers, 'Retry-After': '7' },
      body: JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'slow down', details: { limit: 1 } } }),
    })
  })

  it.each([
    ['an UnauthorizedError', new UnauthorizedError('token revoked')],
    ['a plain error with the UNAUTHORIZED code', new AppError('UNAUTHORIZED', 'token revoked')],
  ])('challenges with WWW-Authenticate whenever core refuses the caller as unauthenticated (%s)', async (_, error) => {
    const response = await failing(error)(apiEvent({ sub: 'a' }), context())
    expect(response).toEqual({
      statusCode: 401,
      headers: { ...headers, 'WWW-Authenticate': 'Bearer' },
      body: JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'token revoked' } }),
    })
  })


  it('answers 503 when a dependency is unavailable', async () => {
    const response = await failing(new DependencyUnavailableError('storage'))(apiEvent({ sub: 'a' }), context())
    expect(response.statusCode).toBe(503)
    expect(JSON.parse(response.body!).error.code).toBe('SERVICE_UNAVAILABLE')
  })

  it('answers 503 with Retry-After when the database is unavailable', async () => {
    const response = await failing(new DependencyUnavailableError('database'))(apiEvent({ sub: 'a' }), context())
    expect(response.statusCode).toBe(503)
    expect(response.headers).toMatchObject({ 'Retry-After': '5' })
  })

  it('does not guess from a raw driver error: only db.ts decides what "unavailable" is', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
    const response = await failing(refused)(apiEvent({ sub: 'a' }), context())
    expect(response.statusCode).toBe(500)
  })

  it('hides the message of an unexpected error', async () => {
    const response = await failing(new Error('password=hunter2 at db.internal'))(apiEvent({ sub: 'a' }), context())
    expect(response.statusCode).toBe(500)
    expect(response.body).toBe(JSON.stringify({ error: { code: 'INTERNAL', message: 'Internal server error' } }))
  })
})
