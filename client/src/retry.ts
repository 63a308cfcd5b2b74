/**
 * The one retry helper of the client library: capped exponential backoff with full jitter, for network errors and
 * the statuses a later attempt may fix, honouring `Retry-After` on 429 and 503. No dependencies: it runs on
 * Node >= 20 and in browsers.
 */

export interface RetryOptions {
  /** Attempts after the first (default 5). */
  readonly retries?: number
  /** The first backoff ceiling (default 250 ms); it doubles per attempt up to `maxDelayMs`. */
  readonly baseDelayMs?: number
  /** The backoff cap (default 10 s). A server's `Retry-After` may ask for longer, up to `maxRetryAfterMs`. */
  readonly maxDelayMs?: number
  /** The longest `Retry-After` honoured (default 60 s); a longer one is waited for only this long. */
  readonly maxRetryAfterMs?: number
  readonly signal?: AbortSignal
  /** Called before each wait, e.g. to log. */
  readonly onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void
  /** Injectable for tests: a number in [0, 1). */
  readonly random?: () => number
}

/** An HTTP answer that failed an operation; `retryAfterMs` is set when the server said when to come back. */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError'
  constructor(
    readonly status: number,
    readonly body: string,
    readonly retryAfterMs?: number,
  ) {
    super(`HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`)
  }
}

/** Statuses a later attempt may fix: throttling and server errors. */
export const isRetryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500

/**
 * A failure of the connection rather than an answer: fetch's TypeError ("fetch failed", with the socket error as
 * its cause) or a timeout. An abort the caller asked for is not one.
 */
export function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (error.name === 'AbortError') return false
  return error instanceof TypeError || error.name === 'TimeoutError'
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

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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

/**
 * Runs `operation` until it succeeds, `shouldRetry` says no, or the retries are spent; rethrows the last error.
 * `shouldRetry` may return a delay in milliseconds to use instead of the backoff (0: at once).
 */
export async function retry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions & { shouldRetry?: (error: unknown) => boolean | number } = {},
): Promise<T> {
  const retries = options.retries ?? 5
  const shouldRetry = options.shouldRetry ?? isRetryable
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await operation(attempt)
    } catch (error) {
      if (options.signal?.aborted || attempt >= retries) throw error
      const verdict = shouldRetry(error)
      if (verdict === false) throw error
      let delayMs = typeof verdict === 'number' ? verdict : backoffDelay(attempt, options)
      if (error instanceof HttpStatusError && error.retryAfterMs !== undefined) {
        delayMs = Math.min(Math.max(delayMs, error.retryAfterMs), options.maxRetryAfterMs ?? 60_000)
      }
      options.onRetry?.({ attempt: attempt + 1, delayMs, error })
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
  options: RetryOptions & { fetch?: typeof fetch } = {},
): Promise<Response> {
  const fetchFn = options.fetch ?? globalThis.fetch
  const retries = options.retries ?? 5
  return retry(
    async (attempt) => {
      const response = await fetchFn(url, { ...init(), ...(options.signal ? { signal: options.signal } : {}) })
      if (attempt < retries && isRetryableStatus(response.status)) {
        const body = await response.text()
        throw new HttpStatusError(response.status, body, retryAfterMs(response.status, response.headers.get('retry-after')))
      }
      return response
    },
    options,
  )
}
