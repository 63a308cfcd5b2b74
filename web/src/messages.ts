/**
 * Turns what the API and storage answer into sentences a person can act on. Pure functions, so the
 * unit tests run them without a browser.
 */

export function formatBytes(n: number | null | undefined): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '?'
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i += 1
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

/** What the client library's `ApiError` carries: the HTTP status and the API's stable code. */
export interface ApiRefusal {
  /** Absent for one item of a batch answer, which carries its code only. */
  status?: number
  code?: string | undefined
  message: string
  details?: unknown
}

/** An error answer of the API, after the client library's retries (so 429 and 503 here mean "still, after waiting"). */
export function describeApiError(error: ApiRefusal): string {
  // API Gateway's JWT authorizer answers 401 with its own body, without our error code.
  switch (error.status === 401 ? 'UNAUTHORIZED' : error.code) {
    case 'UNAUTHORIZED':
      return 'Not signed in: paste a valid token (npm run -s token -- alice) and try again.'
    case 'PAYLOAD_TOO_LARGE': {
      const max = (error.details as { max_file_size?: number } | undefined)?.max_file_size
      return max ? `Too large: files may be at most ${formatBytes(max)}.` : `Too large: ${error.message}`
    }
    case 'UNSUPPORTED_MEDIA_TYPE':
      return `Wrong type: ${error.message}.`
    case 'RATE_LIMITED':
      return 'Still too many uploads at once after waiting: try again in a minute.'
    case 'SERVICE_UNAVAILABLE':
    case 'INTERNAL':
      return 'The service is having trouble: try again shortly.'
    case undefined:
      return !error.status ? 'Could not reach the service: check the connection and try again.' : `Unexpected answer from the service (HTTP ${error.status}).`
    default:
      return error.message ? `${error.message} (${error.code})` : `Refused (${error.code}).`
  }
}

const STORAGE_MESSAGES: Readonly<Record<string, string>> = {
  EntityTooLarge: 'Refused by storage: the file is larger than this upload allows.',
  EntityTooSmall: 'Refused by storage: the file is smaller than this upload allows (empty files are refused).',
  ExpiredToken: 'The upload link expired before the upload finished: try again.',
  RequestTimeout: 'Storage timed out waiting for the file: try again.',
}

function xmlText(xml: string, tag: string): string | undefined {
  const match = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)
  return match?.[1]?.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&')
}

/** A refusal by storage: S3 answers 4xx with an XML `<Error><Code>…</Code><Message>…</Message></Error>`; 0 is no answer. */
export function describeStorageError(status: number, xml: string): string {
  if (status === 0) return "Could not reach storage (network error, or the bucket does not allow this page's origin)."
  const code = xmlText(xml, 'Code')
  const message = xmlText(xml, 'Message') ?? ''
  if (code && STORAGE_MESSAGES[code]) return STORAGE_MESSAGES[code]
  // S3 answers AccessDenied for an expired policy or URL; only the message says which.
  if (code === 'AccessDenied' && /expired/i.test(message)) return STORAGE_MESSAGES.ExpiredToken!
  if (code) return `Refused by storage (${code}${message ? `: ${message}` : ''}).`
  return `Refused by storage (HTTP ${status}).`
}

const isApiRefusal = (error: unknown): error is ApiRefusal =>
  error instanceof Error && error.name === 'ApiError' && typeof (error as Partial<ApiRefusal>).status === 'number'

/**
 * Why an upload did not go through: the client library's errors (an API refusal, no answer at all, storage
 * refusing a form POST), or storage's answer to Uppy's own request (Uppy puts the XMLHttpRequest on the error as
 * `source`). Duck-typed by name, so this module stays free of the library and runs in unit tests as it is.
 */
export function describeUploadError(error: unknown): string {
  if (isApiRefusal(error)) return describeApiError(error)
  if (error instanceof Error && error.name === 'NetworkError') return 'Could not reach the service: check the connection and try again.'
  if (error instanceof Error && error.name === 'StorageError') {
    const { status, body } = error as Error & { status?: unknown; body?: unknown }
    return describeStorageError(typeof status === 'number' ? status : 0, typeof body === 'string' ? body : '')
  }
  const source = (error as { source?: { status?: unknown; responseText?: unknown } } | undefined)?.source
  if (source && typeof source.status === 'number') {
    return describeStorageError(source.status, typeof source.responseText === 'string' ? source.responseText : '')
  }
  return error instanceof Error ? error.message : String(error)
}

/** The file view's fields a failure message needs. */
export interface SettledFile {
  status: string
  error: { code: string; message: string } | null
}

/** Why a file ended FAILED, QUARANTINED or EXPIRED. */
export function describeFailure(file: SettledFile): string {
  if (file.status === 'EXPIRED') return 'Expired: it was never confirmed before its upload link ran out.'
  const what = file.status === 'QUARANTINED' ? 'Quarantined' : 'Failed'
  return file.error ? `${what}: ${file.error.message} (${file.error.code})` : `${what}.`
}

/** The client library's reasons to try again (its `RetryReason`), as the page says them. */
const WAIT_REASONS: Readonly<Record<string, string>> = {
  'rate-limited': 'rate limited',
  unavailable: 'the service is busy',
  'server-error': 'the service had a problem',
  network: 'connection lost',
  'expired-url': 'the upload link expired',
}

/** What the page says while the client library waits before trying again, instead of a refusal. */
export function describeWait(delayMs: number, reason: string): string {
  const seconds = Math.max(1, Math.round(delayMs / 1000))
  return `Waiting ${seconds} s (${WAIT_REASONS[reason] ?? reason}), then trying again…`
}

export interface BatchCounts {
  synced: number
  failed: number
  quarantined: number
  inProgress: number
}

/** The batch's summary line: "148 synced, 2 failed", plus what is quarantined or still going when there is any. */
export function summarize(counts: BatchCounts): string {
  const parts = [`${counts.synced} synced`, `${counts.failed} failed`]
  if (counts.quarantined > 0) parts.push(`${counts.quarantined} quarantined`)
  if (counts.inProgress > 0) parts.push(`${counts.inProgress} in progress`)
  return parts.join(', ')
}
