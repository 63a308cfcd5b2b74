/**
 * Uploads the parts of a multipart file straight to storage: several parts in flight, each signed just before it is
 * sent (so a URL cannot expire in a queue), retried on network errors and 5xx with capped backoff and jitter,
 * re-signed when storage says its URL expired, and resumed from the parts storage already holds
 * (`GET /files/{id}/parts`). Runs on Node >= 20 and in browsers with `fetch`; needs no AWS credentials.
 */
import { PartUploadError } from './errors.js'
import { HttpStatusError, isRetryable, retry, type RetryOptions } from './retry.js'
import type { PartsListing, SignedPart } from './types.js'

/** The two parts routes of the API, as the uploader needs them (`UploadClient` is one). */
export interface PartsApi {
  signParts(fileId: string, partNumbers: number[], sha256?: Record<string, string>): Promise<SignedPart[]>
  listParts(fileId: string): Promise<PartsListing>
}

/** Where the bytes come from: a Blob or File in a browser, a file on disk in Node (`read` returns the range). */
export interface PartSource {
  readonly size: number
  read(start: number, end: number): Promise<Uint8Array | Blob>
}

export const blobSource = (blob: Blob): PartSource => ({ size: blob.size, read: async (start, end) => blob.slice(start, end) })

export interface UploadPartsOptions {
  fileId: string
  source: PartSource
  api: PartsApi
  /** Parts in flight at once (default 4). */
  concurrency?: number
  /** Send each part's SHA-256, signed into its URL, so storage refuses corrupted bytes (default false). */
  checksums?: boolean
  signal?: AbortSignal
  /** Bytes storage holds so far, after the listing and after every part. */
  onProgress?: (progress: { bytesDone: number; bytesTotal: number; partsDone: number; partCount: number }) => void
  retry?: RetryOptions
  fetch?: typeof fetch
}

export interface UploadPartsResult {
  partCount: number
  /** Parts storage already held at the right size: not sent again. */
  resumedParts: number
  uploadedParts: number
}

/** S3 answers an expired presigned URL with 403 and this message (Uppy re-signs on the same text). */
const EXPIRED = /Request has expired/

async function sha256Hex(bytes: Uint8Array | Blob): Promise<string> {
  // A view over an ArrayBuffer, as the DOM's BufferSource type insists (a Node Buffer may sit on a shared pool).
  const buffer = bytes instanceof Blob ? await bytes.arrayBuffer() : new Uint8Array(bytes)
  const digest = await globalThis.crypto.subtle.digest('SHA-256', buffer)
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('')
}

/** The expected length of part `n` of a file cut into `partSize` pieces. */
export const partLength = (listing: Pick<PartsListing, 'part_size' | 'part_count'>, fileSize: number, n: number): number =>
  n < listing.part_count ? listing.part_size : fileSize - (listing.part_count - 1) * listing.part_size

/**
 * Sends every part storage does not yet hold at its planned size, `concurrency` at a time. Resolves when all
 * parts are stored (confirm next); rejects with the first part that failed for good, after stopping the others.
 */
export async function uploadParts(options: UploadPartsOptions): Promise<UploadPartsResult> {
  const { api, fileId, source } = options
  const fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  // The API client retries its own requests; this covers a PartsApi that does not.
  const listing = await retry(() => api.listParts(fileId), { ...options.retry, shouldRetry: isRetryable, request: `GET /files/${fileId}/parts` })
  const planned = (n: number) => partLength(listing, source.size, n)
  const held = new Set(listing.parts.filter((p) => p.part_number <= listing.part_count && p.size === planned(p.part_number)).map((p) => p.part_number))
  const todo: number[] = []
  for (let n = 1; n <= listing.part_count; n += 1) if (!held.has(n)) todo.push(n)

  let bytesDone = [...held].reduce((sum, n) => sum + planned(n), 0)
  let partsDone = held.size
  const report = () => options.onProgress?.({ bytesDone, bytesTotal: source.size, partsDone, partCount: listing.part_count })
  report()

  // One failure stops the other workers from starting new parts.
  const stop = new AbortController()
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal

  const sendPart = async (n: number): Promise<void> => {
    const start = (n - 1) * listing.part_size
    const body = await source.read(start, start + planned(n))
    const digest = options.checksums ? await sha256Hex(body) : undefined
    const sign = async () => {
      const [signed] = await api.signParts(fileId, [n], digest ? { [n]: digest } : undefined)
      if (!signed) throw new Error(`the API signed no URL for part ${n}`)
      return signed
    }
    let signed = await sign()
    await retry(
      async () => {
        // A URL about to expire is re-signed before the PUT rather than refused after it.
        if (Date.parse(signed.expires_at) - Date.now() < 5_000) signed = await sign()
        const response = await fetchFn(signed.url, { method: 'PUT', body: body as NonNullable<RequestInit['body']>, headers: signed.headers, signal })
        const text = await response.text()
        if (response.ok) return
        if (response.status === 403 && EXPIRED.test(text)) {
          signed = await sign()
          throw new PartUrlExpiredError()
        }
        throw new HttpStatusError(response.status, text)
      },
      {
        ...options.retry,
        signal,
        request: `PUT part ${n}`,
        shouldRetry: (error) => (error instanceof PartUrlExpiredError ? 0 : isRetryable(error)),
      },
    )
    bytesDone += planned(n)
    partsDone += 1
    report()
  }

  let next = 0
  let failure: { error: unknown } | undefined
  const worker = async () => {
    while (next < todo.length && !signal.aborted) {
      const n = todo[next++]!
      try {
        await sendPart(n)
      } catch (error) {
        // The first failure is the one to report; the others are the aborts it caused.
        failure ??= { error: error instanceof HttpStatusError ? new PartUploadError(n, error.status, error.body) : error }
        stop.abort(failure.error)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, options.concurrency ?? 4), todo.length) }, worker))
  options.signal?.throwIfAborted()
  if (failure) throw failure.error
  return { partCount: listing.part_count, resumedParts: held.size, uploadedParts: todo.length }
}

class PartUrlExpiredError extends Error {
  override readonly name = 'PartUrlExpiredError'
}
