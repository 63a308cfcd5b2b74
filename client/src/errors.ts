/** An API answer that is not a success, with the API's stable error code (`RATE_LIMITED`, `FILE_NOT_FOUND`, …). */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
  }

  /** The error an answer stands for: the API's `{error}` body when it sent one, else its status. */
  static from(answer: { status: number; json?: unknown; text?: string }): ApiError {
    const error = (answer.json as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error
    const code = typeof error?.code === 'string' ? error.code : undefined
    const message = typeof error?.message === 'string' ? error.message : `HTTP ${answer.status}${answer.text ? `: ${answer.text.slice(0, 200)}` : ''}`
    return new ApiError(answer.status, code, message, error?.details)
  }
}

/**
 * The API could not be reached (after the retries a request allows): no answer came. `code` is the socket error's
 * (`ECONNREFUSED`, `ENOTFOUND`, …) where the platform says (Node does; browsers do not).
 */
export class NetworkError extends Error {
  override readonly name = 'NetworkError'
  readonly code: string | undefined
  /** The code, or else what the innermost cause says (e.g. fetch's "bad port"). */
  readonly detail: string | undefined
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    const code = socketErrorCode(cause)
    const detail = code ?? innermostMessage(cause)
    super(`cannot reach ${url}${detail ? ` (${detail})` : ''}`, { cause })
    this.code = code
    this.detail = detail
  }
}

function innermostMessage(error: unknown): string | undefined {
  let message: string | undefined
  for (let cause = error as { message?: unknown; cause?: unknown } | undefined; cause; cause = cause.cause as typeof cause) {
    if (typeof cause.message === 'string' && cause.message) message = cause.message
  }
  return message
}

function socketErrorCode(error: unknown): string | undefined {
  for (let cause = error as { code?: unknown; cause?: unknown; errors?: unknown[] } | undefined; cause; cause = cause.cause as typeof cause) {
    if (typeof cause.code === 'string') return cause.code
    if (Array.isArray(cause.errors)) return socketErrorCode(cause.errors[0])
  }
  return undefined
}

/** Storage refused a part for good: `body` is its XML error (e.g. BadDigest, SignatureDoesNotMatch). */
export class PartUploadError extends Error {
  override readonly name = 'PartUploadError'
  constructor(
    readonly partNumber: number,
    readonly status: number,
    readonly body: string,
  ) {
    super(`storage refused part ${partNumber}: HTTP ${status} ${storageErrorCode(body) ?? ''}`.trim())
  }
}

/** Storage refused the form POST of a small file; `body` is its XML error (e.g. EntityTooLarge, AccessDenied). */
export class StorageError extends Error {
  override readonly name = 'StorageError'
  readonly code: string | undefined
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    const code = storageErrorCode(body)
    const detail = /<Message>([^<]*)<\/Message>/.exec(body)?.[1]
    super(`storage refused the upload: ${code ?? `HTTP ${status}`}${detail ? ` ${detail}` : ''}`)
    this.code = code
  }
}

/** `waitUntilSettled` ran out of time; `file` is the last state seen. */
export class SettleTimeoutError extends Error {
  override readonly name = 'SettleTimeoutError'
  constructor(
    readonly fileId: string,
    readonly timeoutMs: number,
    readonly file: { status: string } | undefined,
  ) {
    super(`file ${fileId} is still ${file?.status ?? 'unknown'} after ${timeoutMs / 1000} s`)
  }
}

const storageErrorCode = (xml: string): string | undefined => /<Code>([^<]*)<\/Code>/.exec(xml)?.[1]
