/**
 * Stable error codes. Core throws them as typed errors and knows nothing of HTTP: the status and headers each
 * one answers with belong to the edge (functions/core/middleware/http-errors.ts).
 */
export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'UNAUTHORIZED',
  'FILE_NOT_FOUND',
  'WEBHOOK_NOT_FOUND',
  'ROUTE_NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'UPLOAD_NOT_FOUND',
  'UPLOAD_INCOMPLETE',
  'SIZE_MISMATCH',
  'INVALID_STATE',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMITED',
  'INTERNAL',
  'SERVICE_UNAVAILABLE',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown }
}

/** A failure the caller may see: a stable code, a message and optional details. */
export class AppError extends Error {
  override readonly name: string = 'AppError'

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  toJSON(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } }
  }
}

/** The caller sent no usable credentials. */
export class UnauthorizedError extends AppError {
  override readonly name = 'UnauthorizedError'
  constructor(message = 'A valid bearer token is required') {
    super('UNAUTHORIZED', message)
  }
}

/** The caller asked too often; it may try again after `retryAfterSeconds`. */
export class RateLimitedError extends AppError {
  override readonly name = 'RateLimitedError'
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    details?: unknown,
  ) {
    super('RATE_LIMITED', message, details)
  }
}

/** A dependency (database, storage, queue) could not be reached; safe to retry later. */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError'
  constructor(
    readonly dependency: 'database' | 'cache' | 'storage' | 'queue',
    options?: { cause?: unknown },
  ) {
    super(`${dependency} unavailable`, options)
  }
}

export const fileNotFound = (): AppError => new AppError('FILE_NOT_FOUND', 'File not found')
export const webhookNotFound = (): AppError => new AppError('WEBHOOK_NOT_FOUND', 'Webhook not found')
