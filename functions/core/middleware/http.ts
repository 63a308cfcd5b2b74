import middy from '@middy/core'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import type { MiddlewareObj } from '@middy/core'
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import { z } from 'zod'
import { logger } from '../deps.js'
import { AppError, DependencyUnavailableError, UnauthorizedError } from '../errors.js'
import { toHttpError } from './http-errors.js'

/** HTTP API (payload format 2.0) event; `authorizer` is absent on public routes. */
export type HttpEvent = Omit<APIGatewayProxyEventV2WithJWTAuthorizer, 'requestContext'> & {
  requestContext: Omit<APIGatewayProxyEventV2WithJWTAuthorizer['requestContext'], 'authorizer'> & {
    authorizer?: APIGatewayProxyEventV2WithJWTAuthorizer['requestContext']['authorizer']
  }
}
export type HttpResponse = APIGatewayProxyStructuredResultV2

type Schema = z.ZodType

export interface RouteSpec<B extends Schema | undefined, Q extends Schema | undefined, P extends Schema | undefined> {
  body?: B
  query?: Q
  params?: P
  /** `/health` is the only public route; everything else needs the JWT's `sub`. */
  public?: boolean
  /** Status of a successful response. */
  status?: number
}

type Out<S> = S extends Schema ? z.output<S> : undefined

export interface RouteInput<B, Q, P> {
  body: Out<B>
  query: Out<Q>
  params: Out<P>
  /** The caller: the token's `sub`. Empty on public routes. */
  ownerId: string
}

/** What a route handler returns: a JSON body, optionally with a status and headers. */
export interface RouteResult {
  body: unknown
  status?: number
  headers?: Record<string, string>
}

/** Request bodies are small JSON documents; anything larger is refused before parsing. */
export const MAX_BODY_BYTES = 64 * 1024

// nosniff: a JSON body must never be sniffed into something a browser renders.
const jsonHeaders = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse => ({
  statusCode: status,
  headers: { ...jsonHeaders, ...headers },
  body: JSON.stringify(body),
})

function validationError(where: string, error: z.ZodError): AppError {
  const details = error.issues.map((issue) => ({
    field: [where, ...issue.path].join('.'),
    message: issue.message,
  }))
  return new AppError('VALIDATION_FAILED', `Invalid ${where}: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}`, details)
}

function parseWith<S extends Schema | undefined>(schema: S, value: unknown, where: string): Out<S> {
  if (!schema) return undefined as Out<S>
  const result = schema.safeParse(value)
  if (!result.success) throw validationError(where, result.error)
  return result.data as Out<S>
}

function readBody(event: HttpEvent): unknown {
  if (event.body === undefined || event.body === null || event.body === '') {
    throw new AppError('VALIDATION_FAILED', 'A JSON request body is required')
  }
  const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8')
  if (raw.length > MAX_BODY_BYTES) {
    throw new AppError('PAYLOAD_TOO_LARGE', `Request body must be at most ${MAX_BODY_BYTES} bytes`)
  }
  try {
    return JSON.parse(raw.toString('utf8'))
  } catch {
    throw new AppError('VALIDATION_FAILED', 'Request body is not valid JSON')
  }
}

/**
 * Renders every error as `{"error": {code, message, details?}}` with the status and headers of
 * `toHttpError`; unexpected errors and unreachable dependencies are logged with their cause.
 */
export function httpErrorHandler(): MiddlewareObj<HttpEvent, HttpResponse> {
  return {
    onError: (request) => {
      const error = request.error
      const mapped = toHttpError(error)
      if (mapped.kind === 'unavailable') {
        logger.error('dependency unavailable', { dependency: (error as DependencyUnavailableError).dependency, error })
      } else if (mapped.kind === 'unexpected') {
        logger.error(error instanceof AppError ? 'request failed' : 'unhandled error', { error })
      }
      request.response = json(mapped.status, mapped.body, mapped.headers)
    },
  }
}

/**
 * A Lambda handler for one HTTP route: authenticates (unless public), validates body, query and
 * path against the route's schemas, calls `handler` with typed input and renders its result.
 */
export function httpRoute<B extends Schema | undefined = undefined, Q extends Schema | undefined = undefined, P extends Schema | undefined = undefined>(
  spec: RouteSpec<B, Q, P>,
  handler: (input: RouteInput<B, Q, P>) => Promise<RouteResult>,
) {
  return middy<HttpEvent, HttpResponse, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(httpErrorHandler())
    .handler(async (event) => {
      const ownerId = spec.public ? '' : mustBeAuthenticated(event)
      const input: RouteInput<B, Q, P> = {
        body: spec.body ? parseWith(spec.body, readBody(event), 'body') : (undefined as Out<B>),
        query: parseWith(spec.query, event.queryStringParameters ?? {}, 'query') as Out<Q>,
        params: parseWith(spec.params, event.pathParameters ?? {}, 'path') as Out<P>,
        ownerId,
      }
      const result = await handler(input)
      return json(result.status ?? spec.status ?? 200, result.body, result.headers)
    })
}

/** Real identity providers issue short subjects (UUIDs, `provider|id`); the owner id sits in B-tree index entries. */
export const MAX_SUBJECT_LENGTH = 255

// Postgres text cannot hold NUL, and lone surrogates would be replaced on encoding, so two
// different subjects could become the same owner.
const isStorableSubject = (sub: string): boolean => [...sub].length <= MAX_SUBJECT_LENGTH && !/[\0\p{Cs}]/u.test(sub)

/**
 * The owner is the JWT's `sub`, put on the event by API Gateway's JWT authorizer (or the local runtime). Only a
 * string is a subject: an array, object, number or null is refused, never turned into text that could equal
 * another token's subject (docs/SECURITY.md, "Tokens").
 */
function mustBeAuthenticated(event: HttpEvent): string {
  const sub: unknown = event.requestContext.authorizer?.jwt?.claims?.sub
  if (typeof sub !== 'string' || sub.length === 0) throw new UnauthorizedError()
  if (!isStorableSubject(sub)) {
    throw new UnauthorizedError(`The token's subject must be at most ${MAX_SUBJECT_LENGTH} characters of well-formed text`)
  }
  logger.appendKeys({ owner: sub })
  return sub
}
