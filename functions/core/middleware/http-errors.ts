import {
  AppError,
  DependencyUnavailableError,
  RateLimitedError,
  type ErrorBody,
  type ErrorCode,
} from '../errors.js'

/** The HTTP status of every error code: the one place that knows them (the OpenAPI document reads it too). */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FILE_NOT_FOUND: 404,
  WEBHOOK_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UPLOAD_NOT_FOUND: 409,
  UPLOAD_INCOMPLETE: 409,
  SIZE_MISMATCH: 409,
  INVALID_STATE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  SERVICE_UNAVAILABLE: 503,
} as const satisfies Record<ErrorCode, number>

/** How long a client should wait before retrying while a backing service is away. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5

export interface HttpErrorResponse {
  status: number
  body: ErrorBody
  headers: Record<string, string>
  /** What went wrong, for the log: a caller's mistake, an unreachable dependency or a bug. */
  kind: 'refused' | 'unavailable' | 'unexpected'
}

/**
 * Maps any thrown value to the response the API answers with. Typed errors keep their code; an unreachable
 * dependency is a 503 the client may retry; anything else is a 500 whose message reveals nothing.
 */
export function toHttpError(error: unknown): HttpErrorResponse {
  if (error instanceof AppError) {
    const status = ERROR_STATUS[error.code]
    return { status, body: error.toJSON(), headers: headersFor(error), kind: status >= 500 ? 'unexpected' : 'refused' }
  }
  if (error instanceof DependencyUnavailableError) {
    return {
      status: ERROR_STATUS.SERVICE_UNAVAILABLE,
      body: new AppError('SERVICE_UNAVAILABLE', 'A backing service is unavailable; retry shortly').toJSON(),
      headers: { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
      kind: 'unavailable',
    }
  }
  return { status: ERROR_STATUS.INTERNAL, body: new AppError('INTERNAL', 'Internal server error').toJSON(), headers: {}, kind: 'unexpected' }
}

function headersFor(error: AppError): Record<string, string> {
  // RFC 6750 section 3: every 401 names the scheme the client must authenticate with.
  if (error.code === 'UNAUTHORIZED') return { 'WWW-Authenticate': 'Bearer' }
  // RFC 9110 section 10.2.3: delay-seconds, a whole number.
  if (error instanceof RateLimitedError) return { 'Retry-After': String(Math.max(1, Math.ceil(error.retryAfterSeconds))) }
  return {}
}
