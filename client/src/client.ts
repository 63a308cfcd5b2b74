import { ApiError, NetworkError, SettleTimeoutError } from './errors.js'
import {
  HttpStatusError,
  isNetworkError,
  isNeverSentError,
  isRetryableStatus,
  retry,
  retryAfterMs,
  type RetryInfo,
  type RetryOptions,
} from './retry.js'
import { poll, type PollOptions } from './poll.js'
import { uploadFile, type UploadOptions } from './upload.js'
import type { PartSource, PartsApi } from './multipart.js'
import {
  isSettled,
  type ConfirmItem,
  type ConfirmResult,
  type CreatedWebhook,
  type CreateWebhookInput,
  type FileView,
  type GetFileResult,
  type ListResult,
  type PartsListing,
  type PresignBatchResult,
  type PresignItem,
  type RotatedSecret,
  type SignedPart,
  type Upload,
  type Webhook,
  type WebhookDelivery,
} from './types.js'

export interface ClientOptions {
  /** The API, e.g. `http://127.0.0.1:3000` or a deployed stage's URL; `''` for a page served by the API itself. */
  baseUrl: string
  /** The bearer JWT, or a function called before every request (so it may refresh one). No token: no header. */
  token: string | undefined | (() => string | undefined | Promise<string | undefined>)
  fetch?: typeof fetch
  retry?: RetryOptions
  /** Told before every wait, so a UI can say "waiting 12 s (rate limited)" instead of failing. */
  onRetry?: (info: RetryInfo) => void
}

/**
 * Which failures a request may be tried again after:
 * - `idempotent`: network errors, 408, 429 and 5xx. For reads, and for writes whose repetition changes nothing
 *   (confirm, signing part URLs, delete).
 * - `unsent`: only what proves the server did nothing: a connection never made, or 429/503 (refused before any
 *   work). For writes that create something (presign, webhook creation, secret rotation): a request lost after it
 *   reached the server may have been carried out, and a second one would create a second file (an orphan upload
 *   that later expires and sends `file.expired`) or rotate a secret the caller never saw.
 * - `none`: the first answer, whatever it is.
 */
export type RetryMode = 'idempotent' | 'unsent' | 'none'

export interface RequestOptions {
  /** JSON-encoded, unless a string (sent as is, for callers that need to send something malformed). */
  body?: unknown
  headers?: Record<string, string>
  /** Default: `idempotent` for GET, HEAD, PUT and DELETE; `unsent` for POST and PATCH. */
  retry?: RetryMode
  signal?: AbortSignal
}

/** An HTTP answer as it came: `json` is the parsed body (undefined when it is empty or not JSON). */
export interface ApiResponse<T = any> {
  status: number
  headers: Headers
  json: T
  text: string
}

export interface ListQuery {
  externalId?: string
  /** Files per page (1–100; the API's default is 50). */
  limit?: number
}

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'])

/** An answer worth another attempt, carried through `retry` (which retries what throws). */
class AnswerError extends HttpStatusError {
  constructor(readonly answer: ApiResponse) {
    super(answer.status, answer.text, retryAfterMs(answer.status, answer.headers.get('retry-after')), answer.headers)
  }
}

/**
 * The typed client of the upload pipeline's HTTP API. Runs on Node >= 20 and in browsers with `fetch`; needs no AWS
 * credentials (storage is reached through the presigned URLs the API hands out).
 */
export class UploadClient implements PartsApi {
  readonly webhooks: {
    create(input: CreateWebhookInput): Promise<CreatedWebhook>
    list(): Promise<Webhook[]>
    delete(id: string): Promise<void>
    deliveries(id: string): Promise<WebhookDelivery[]>
    rotateSecret(id: string): Promise<RotatedSecret>
    /** Puts an endpoint disabled by a 410 or by failing through its retry schedule back in service. */
    enable(id: string): Promise<Webhook>
  }

  constructor(readonly options: ClientOptions) {
    const id = (webhookId: string) => `/webhooks/${encodeURIComponent(webhookId)}`
    this.webhooks = {
      create: (input) => this.call('POST', '/webhooks', input),
      list: async () => (await this.call<{ webhooks: Webhook[] }>('GET', '/webhooks')).webhooks,
      delete: async (webhookId) => {
        await this.call('DELETE', id(webhookId))
      },
      deliveries: async (webhookId) => (await this.call<{ deliveries: WebhookDelivery[] }>('GET', `${id(webhookId)}/deliveries`)).deliveries,
      rotateSecret: (webhookId) => this.call('POST', `${id(webhookId)}/rotate-secret`),
      enable: (webhookId) => this.call('POST', `${id(webhookId)}/enable`),
    }
  }

  /** The `fetch` requests go through (the caller's, or the global one called unbound, as browsers require). */
  get fetch(): typeof fetch {
    return this.options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  }

  /** The retry settings, with `onRetry` reporting to the client's listener. */
  get retryOptions(): RetryOptions {
    const listener = this.options.onRetry
    const own = this.options.retry?.onRetry
    return {
      ...this.options.retry,
      ...(listener || own ? { onRetry: (info: RetryInfo) => (own?.(info), listener?.(info)) } : {}),
    }
  }

  /**
   * One API request, retried as `options.retry` allows, answering whatever the API answered (it throws only when no
   * answer came: a `NetworkError` after its retries, or the abort). For integrators who want statuses and headers.
   */
  async request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const mode = options.retry ?? (IDEMPOTENT_METHODS.has(method.toUpperCase()) ? 'idempotent' : 'unsent')
    const url = `${this.options.baseUrl.replace(/\/+$/, '')}${path}`
    const { body } = options
    const once = async (): Promise<ApiResponse<T>> => {
      const token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token
      const response = await this.fetch(url, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
        ...(options.signal ? { signal: options.signal } : {}),
      })
      const text = await response.text()
      let json: any
      try {
        json = text ? JSON.parse(text) : undefined
      } catch {
        json = undefined
      }
      const answer = { status: response.status, headers: response.headers, json, text }
      if (mode !== 'none' && isRetryableStatus(answer.status)) throw new AnswerError(answer)
      return answer
    }
    try {
      if (mode === 'none') return await once()
      return await retry(once, {
        ...this.retryOptions,
        ...(options.signal ? { signal: options.signal } : {}),
        request: `${method} ${path}`,
        shouldRetry: (error) => {
          if (error instanceof AnswerError) return mode === 'idempotent' || error.status === 429 || error.status === 503
          return mode === 'idempotent' ? isNetworkError(error) : isNeverSentError(error)
        },
      })
    } catch (error) {
      // Out of retries on an answer: it is the answer.
      if (error instanceof AnswerError) return error.answer as ApiResponse<T>
      if (isNetworkError(error) && !options.signal?.aborted) throw new NetworkError(`${method} ${url}`, error)
      throw error
    }
  }

  /** A request whose success is a 2xx: its JSON body, or an `ApiError` with the API's code. */
  private async call<T>(method: string, path: string, body?: unknown, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    const answer = await this.request<T>(method, path, { ...options, ...(body === undefined ? {} : { body }) })
    if (answer.status < 200 || answer.status >= 300) throw ApiError.from(answer)
    return answer.json
  }

  /** Registers one upload (201); storage is then sent the bytes as the answer says. */
  presign(item: PresignItem, options: { signal?: AbortSignal } = {}): Promise<Upload> {
    return this.call('POST', '/files/presigned-upload', item, options)
  }

  /** Registers up to 100 uploads in one request; the rate limit counts files, and refuses a batch as a whole. */
  presignBatch(items: PresignItem[], options: { signal?: AbortSignal } = {}): Promise<PresignBatchResult> {
    return this.call('POST', '/files/presigned-upload', { uploads: items }, options)
  }

  /** Fresh URLs for parts of a multipart upload (asking again after one expired is fine). */
  async signParts(fileId: string, partNumbers: number[], sha256?: Record<string, string>): Promise<SignedPart[]> {
    const answer = await this.call<{ parts: SignedPart[] }>(
      'POST',
      `/files/${encodeURIComponent(fileId)}/parts`,
      { part_numbers: partNumbers, ...(sha256 && Object.keys(sha256).length ? { sha256 } : {}) },
      // Signing changes nothing on the server: a URL more is harmless.
      { retry: 'idempotent' },
    )
    return answer.parts
  }

  /** The parts storage already holds: what a resumed upload need not send again. */
  listParts(fileId: string): Promise<PartsListing> {
    return this.call('GET', `/files/${encodeURIComponent(fileId)}/parts`)
  }

  /** Confirms one uploaded file; a refusal is an `ApiError` with the item's code. Confirming again changes nothing. */
  confirm(fileId: string, fileSize: number, options: { signal?: AbortSignal } = {}): Promise<ConfirmResult> {
    return this.call('POST', '/files/confirm-uploads', { file_id: fileId, file_size: fileSize }, { ...options, retry: 'idempotent' })
  }

  /** Confirms up to 100 files; per-item refusals are in `failed`, not thrown. */
  confirmBatch(items: ConfirmItem[], options: { signal?: AbortSignal } = {}): Promise<ConfirmResult> {
    return this.call('POST', '/files/confirm-uploads', { uploads: items }, { ...options, retry: 'idempotent' })
  }

  /** presign → POST form or parallel multipart parts (resuming when `fileId` is given) → confirm. */
  upload(body: Blob | PartSource, options: UploadOptions): Promise<FileView> {
    return uploadFile(this, body, options)
  }

  /** The file, with its content inline when it is small and SYNCED, or a short-lived `download_url`. */
  getFile(fileId: string, options: { signal?: AbortSignal } = {}): Promise<GetFileResult> {
    return this.call('GET', `/files/${encodeURIComponent(fileId)}`, undefined, options)
  }

  /**
   * Polls the file until it reaches a status it does not leave on its own (SYNCED, FAILED, QUARANTINED, EXPIRED,
   * DELETED), waiting a little longer each time up to `maxIntervalMs` (2 s). Throws `SettleTimeoutError` after
   * `timeoutMs` (300 s).
   */
  async waitUntilSettled(
    fileId: string,
    options: PollOptions & { onUpdate?: (file: FileView) => void } = {},
  ): Promise<FileView> {
    const timeoutMs = options.timeoutMs ?? 300_000
    return poll(
      async () => {
        const { file } = await this.getFile(fileId, options.signal ? { signal: options.signal } : {})
        options.onUpdate?.(file)
        return file
      },
      (file) => isSettled(file.status),
      { ...options, timeoutMs, timedOut: (file) => new SettleTimeoutError(fileId, timeoutMs, file) },
    )
  }

  /** One page of the owner's files, newest first. */
  listFilesPage(query: ListQuery & { cursor?: string } = {}, options: { signal?: AbortSignal } = {}): Promise<ListResult> {
    const params = new URLSearchParams()
    if (query.externalId !== undefined) params.set('external_id', query.externalId)
    if (query.limit !== undefined) params.set('limit', String(query.limit))
    if (query.cursor !== undefined) params.set('cursor', query.cursor)
    const qs = params.toString()
    return this.call('GET', `/files${qs ? `?${qs}` : ''}`, undefined, options)
  }

  /** Every file of the owner (filtered by `externalId`), following `next_cursor` a page at a time. */
  async *listFiles(query: ListQuery = {}, options: { signal?: AbortSignal } = {}): AsyncGenerator<FileView, void, undefined> {
    let cursor: string | undefined
    do {
      const page = await this.listFilesPage({ ...query, ...(cursor ? { cursor } : {}) }, options)
      yield* page.files
      cursor = page.next_cursor ?? undefined
    } while (cursor)
  }

  /** Deletes the file: its object, cache entry and name. Deleting it again is a success too. */
  async deleteFile(fileId: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.call('DELETE', `/files/${encodeURIComponent(fileId)}`, undefined, options)
  }
}
