/** Stable error codes and the HTTP status each one answers with. */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FILE_NOT_FOUND: 404,
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
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown }
}

/** An error the API may show to its caller: a stable code, a message and optional details. */
export class AppError extends Error {
  override readonly name = 'AppError'
  readonly status: number

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message)
    this.status = ERROR_STATUS[code]
  }

  toJSON(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } }
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
