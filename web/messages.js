/**
 * Turns what the API and storage answer into sentences a person can act on. Pure functions, so the
 * unit tests run them without a browser.
 */

export function formatBytes(n) {
  if (!Number.isFinite(n)) return '?'
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i += 1
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

/** An error answer of the API: `{"error": {"code", "message", "details"?}}`. */
export function describeApiError(status, body) {
  const error = body && typeof body === 'object' ? body.error : undefined
  const code = error?.code
  const message = typeof error?.message === 'string' ? error.message : ''
  // API Gateway's JWT authorizer answers 401 with its own body, without our error code.
  switch (status === 401 ? 'UNAUTHORIZED' : code) {
    case 'UNAUTHORIZED':
      return 'Not signed in: paste a valid token (npm run -s token -- alice) and try again.'
    case 'PAYLOAD_TOO_LARGE': {
      const max = error?.details?.max_file_size
      return max ? `Too large: files may be at most ${formatBytes(max)}.` : `Too large: ${message}`
    }
    case 'UNSUPPORTED_MEDIA_TYPE':
      return `Wrong type: ${message}.`
    case 'RATE_LIMITED':
      return 'Too many uploads at once: wait a minute and try again.'
    case 'SERVICE_UNAVAILABLE':
    case 'INTERNAL':
      return 'The service is having trouble: try again shortly.'
    case undefined:
      return `Unexpected answer from the service (HTTP ${status}).`
    default:
      return message ? `${message} (${code})` : `Refused (${code}).`
  }
}

const STORAGE_MESSAGES = {
  EntityTooLarge: 'Refused by storage: the file is larger than this upload allows.',
  EntityTooSmall: 'Refused by storage: the file is smaller than this upload allows (empty files are refused).',
  ExpiredToken: 'The upload link expired before the upload finished: try again.',
  RequestTimeout: 'Storage timed out waiting for the file: try again.',
}

function xmlText(xml, tag) {
  const match = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml ?? '')
  return match ? match[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&') : undefined
}

/** A refusal of the presigned POST: S3 answers 4xx with an XML `<Error><Code>…</Code><Message>…</Message></Error>`. */
export function describeStorageError(status, xml) {
  if (status === 0) return 'Could not reach storage (network error, or the bucket does not allow this page\'s origin).'
  const code = xmlText(xml, 'Code')
  const message = xmlText(xml, 'Message') ?? ''
  if (code && STORAGE_MESSAGES[code]) return STORAGE_MESSAGES[code]
  // S3 answers AccessDenied for an expired policy; only the message says which.
  if (code === 'AccessDenied' && /expired/i.test(message)) return STORAGE_MESSAGES.ExpiredToken
  if (code) return `Refused by storage (${code}${message ? `: ${message}` : ''}).`
  return `Refused by storage (HTTP ${status}).`
}

/** Why a file ended FAILED or EXPIRED. */
export function describeFailure(file) {
  if (file.status === 'EXPIRED') return 'Expired: it was never confirmed before its upload link ran out.'
  const error = file.error
  return error ? `Failed: ${error.message} (${error.code})` : 'Failed.'
}
