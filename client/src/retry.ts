/**
 * The one retry helper of the client library: capped exponential backoff with full jitter, for network errors and
 * the statuses a later attempt may fix, honouring `Retry-After` on 429 and 503. No dependencies: it runs on
 * Node >= 20 and in browsers.
 */

export interface RetryOptions {
  /** Attempts after the first for failures: network errors and 5xx without `Retry-After` (default 5). */
  readonly retries?: number
  /**
   * Attempts after a 429 or 503 that said when to come back (default 20). Counted apart from `retries`: waiting as
   * told is the server's plan working, not a failure, and a folder of files may need several windows.
   */
  readonly rateLimitRetries?: number
  /** The first backoff ceiling (default 250 ms); it doubles per attempt up to `maxDelayMs`. */
  readonly baseDelayMs?: number
  /** The backoff cap (default 10 s). A server's `Retry-After` may ask for longer, up to `maxRetryAfterMs`. */
  readonly maxDelayMs?: number
  /**
   * The longest `Retry-After` waited for (default 120 s). A longer one is not retried: coming back earlier than
   * asked would only be refused again, and the caller is better told than kept waiting silently.
   */
  readonly maxRetryAfterMs?: number
  readonly signal?: AbortSignal
  /** Called before each wait, e.g. so a UI can say "waiting 12 s (rate limited)". */
  readonly onRetry?: (info: RetryInfo) => void
  /** Injectable for tests: a number in [0, 1). */
  readonly random?: () => number
}

/** Why a request is tried again. */
export type RetryReason = 'rate-limited' | 'unavailable' | 'server-error' | 'network' | 'expired-url'

export interface RetryInfo {
  /** 1 for the first retry. */
  attempt: number
  delayMs: number
  reason: RetryReason
  /** The HTTP status that caused the retry, when it was an answer. */
  status?: number
  /** What the server asked for in `Retry-After`, when it did. */
  retryAfterMs?: number
  /** What was being tried, e.g. `POST /files/presigned-upload` or `PUT part 3`. */
  request?: string
  error: unknown
}

/** An HTTP answer that failed an operation; `retryAfterMs` is set when the server said when to come back. */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError'
  constructor(
    readonly status: number,
    readonly body: string,
    readonly retryAfterMs?: number,
    /** The answer itself, for a caller that wants it back when the retries run out. */
    readonly headers?: Headers,
  ) {
    super(`HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`)
  }
}

/** Statuses a later attempt may fix: throttling and server errors. */
export const isRetryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500

/** Socket errors Node reports by code when a connection fails (its http module's, not fetch's TypeError). */
const SOCKET_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_SOCKET'])

/**
 * A failure of the connection rather than an answer: fetch's TypeError ("fetch failed", with the socket error as
 * its cause), a socket error from Node's http module, or a timeout. An abort the caller asked for is not one.
 */
export function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (error.name === 'AbortError') return false
  const code = (error as { code?: unknown }).code
  return error instanceof TypeError || error.name === 'TimeoutError' || (typeof code === 'string' && SOCKET_ERRORS.has(code))
}

/**
 * Socket errors that prove the request never left this machine: no connection was made, so the server cannot have
 * acted on it. Node's fetch names them in `cause.code`; a browser says only "Failed to fetch", which proves nothing.
 */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT'])

export function isNeverSentError(error: unknown): boolean {
  if (!isNetworkError(error)) return false
  for (let cause: unknown = (error as Error).cause; cause; cause = (cause as { cause?: unknown }).cause) {
    const code = (cause as { code?: unknown }).code
    if (typeof code === 'string' && NEVER_SENT.has(code)) return true
    // Happy Eyeballs (autoSelectFamily) reports every refused address in an AggregateError.
    if (cause instanceof AggregateError && cause.errors.length > 0) {
      return cause.errors.every((e: { code?: unknown }) => typeof e?.code === 'string' && NEVER_SENT.has(e.code))
    }
  }
  return false
}

/** `Retry-After` (delta-seconds or an HTTP date) in milliseconds, read only on 429 and 503 as RFC 9110 intends. */
export function retryAfterMs(status: number, header: string | null, now = Date.now()): number | undefined {
  if ((status !== 429 && status !== 503) || !header) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** Full jitter: a uniform wait up to the attempt's exponential ceiling (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export function backoffDelay(attempt: number, options: RetryOptions = {}): number {
  const base = options.baseDelayMs ?? 250
  const cap = options.maxDelayMs ?? 10_000
  const ceiling = Math.min(cap, base * 2 ** attempt)
  return Math.floor((options.random ?? Math.random)() * ceiling)
}

/**
 * The wait a `Retry-After` asks for, plus up to a tenth more (at most 1 s) so that the clients a limit refused
 * together do not all come back in the same instant; never less than asked.
 */
export const retryAfterDelay = (askedMs: number, options: RetryOptions = {}): number =>
  askedMs + Math.floor((options.random ?? Math.random)() * Math.min(1_000, askedMs / 10))

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** The default test of what is worth another attempt: network errors and retryable statuses. */
export function isRetryable(error: unknown): boolean {
  return isNetworkError(error) || (error instanceof HttpStatusError && isRetryableStatus(error.status))
}

/** The HTTP status an error stands for, if it is an answer (`HttpStatusError`, or storage's refusal). */
const statusOf = (error: unknown): number | undefined => {
  const status = (error as { status?: unknown } | undefined)?.status
  return typeof status === 'number' ? status : undefined
}

/** Why `error` is worth another attempt, for `onRetry`. */
export function retryReason(error: unknown): RetryReason {
  if ((error as Error | undefined)?.name === 'PartUrlExpiredError') return 'expired-url'
  const status = statusOf(error)
  if (status === undefined) return 'network'
  if (status === 429) return 'rate-limited'
  if (status === 503) return 'unavailable'
  return 'server-error'
}

/**
 * Runs `operation` until it succeeds, `shouldRetry` says no, or the retries are spent; rethrows the last error.
 * `shouldRetry` may return a delay in milliseconds to use instead of the backoff (0: at once). An
 * `HttpStatusError` with `retryAfterMs` waits that long (see `retryAfterDelay`) and counts against
 * `rateLimitRetries` instead of `retries`.
 */
export async function retry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions & { shouldRetry?: (error: unknown) => boolean | number; request?: string } = {},
): Promise<T> {
  const retries = options.retries ?? 5
  const rateLimitRetries = options.rateLimitRetries ?? 20
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 120_000
  const shouldRetry = options.shouldRetry ?? isRetryable
  let failures = 0
  let waits = 0
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await operation(attempt)
    } catch (error) {
      if (options.signal?.aborted) throw error
      const verdict = shouldRetry(error)
      if (verdict === false) throw error
      const asked = error instanceof HttpStatusError ? error.retryAfterMs : undefined
      let delayMs: number
      if (asked !== undefined) {
        if (waits >= rateLimitRetries || asked > maxRetryAfterMs) throw error
        waits += 1
        delayMs = retryAfterDelay(asked, options)
      } else {
        if (failures >= retries) throw error
        delayMs = typeof verdict === 'number' ? verdict : backoffDelay(failures, options)
        failures += 1
      }
      options.onRetry?.({
        attempt: attempt + 1,
        delayMs,
        reason: retryReason(error),
        ...(statusOf(error) !== undefined ? { status: statusOf(error) } : {}),
        ...(asked !== undefined ? { retryAfterMs: asked } : {}),
        ...(options.request ? { request: options.request } : {}),
        error,
      })
      await sleep(delayMs, options.signal)
    }
  }
}

/**
 * `fetch` with retries: network errors and retryable statuses are tried again (after `Retry-After` when the server
 * sends one); the last answer is returned whatever its status, so the caller reads its error body. `init` is a
 * function so that a body is built afresh for every attempt.
 */
export async function fetchWithRetry(
  url: string | URL,
  init: () => RequestInit,
  options: RetryOptions & { fetch?: typeof fetch; shouldRetry?: (error: unknown) => boolean | number; request?: string } = {},
): Promise<Response> {
  const fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  try {
    return await retry(async () => {
      const response = await fetchFn(url, { ...init(), ...(options.signal ? { signal: options.signal } : {}) })
      if (!isRetryableStatus(response.status)) return response
      const body = await response.text()
      throw new HttpStatusError(response.status, body, retryAfterMs(response.status, response.headers.get('retry-after')), response.headers)
    }, options)
  } catch (error) {
    // Out of retries on an answer: hand it back, so the caller reads the API's error body as from any answer.
    if (error instanceof HttpStatusError && error.headers) return new Response(error.body, { status: error.status, headers: error.headers })
    throw error
  }
}
