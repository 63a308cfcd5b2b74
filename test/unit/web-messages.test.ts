import { describe, expect, it } from 'vitest'
import { parseCsvPreview } from '../../web/src/csv.js'
import { describeApiError, describeFailure, describeStorageError, describeUploadError, describeWait, formatBytes, summarize } from '../../web/src/messages.js'

const s3Error = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>1</RequestId></Error>`

describe('the upload page messages', () => {
  it('explains the storage refusals a presigned POST can meet', () => {
    expect(describeStorageError(400, s3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size'))).toBe(
      'Refused by storage: the file is larger than this upload allows.',
    )
    expect(describeStorageError(403, s3Error('AccessDenied', 'Invalid according to Policy: Policy expired.'))).toBe(
      'The upload link expired before the upload finished: try again.',
    )
    expect(describeStorageError(403, s3Error('AccessDenied', 'Invalid according to Policy: Policy Condition failed: [&quot;eq&quot;, &quot;$key&quot;]'))).toBe(
      'Refused by storage (AccessDenied: Invalid according to Policy: Policy Condition failed: ["eq", "$key"]).',
    )
    expect(describeStorageError(0, '')).toMatch(/^Could not reach storage/)
    expect(describeStorageError(502, '<html>bad gateway</html>')).toBe('Refused by storage (HTTP 502).')
  })

  it('explains API refusals by their stable code', () => {
    expect(describeApiError({ status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'x', details: { max_file_size: 5 * 1024 ** 3 } })).toBe(
      'Too large: files may be at most 5.0 GB.',
    )
    // One item of a batch answer carries its code but no status.
    expect(describeApiError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content type text/html is not allowed' })).toBe(
      'Wrong type: Content type text/html is not allowed.',
    )
    expect(describeApiError({ status: 409, code: 'SIZE_MISMATCH', message: 'Uploaded object is 3 bytes, not 4' })).toBe(
      'Uploaded object is 3 bytes, not 4 (SIZE_MISMATCH)',
    )
    expect(describeApiError({ status: 401, message: 'Unauthorized' })).toMatch(/^Not signed in/)
    expect(describeApiError({ status: 502, message: 'HTTP 502' })).toBe('Unexpected answer from the service (HTTP 502).')
    // The client library has already waited out the Retry-After answers when one reaches the page.
    expect(describeApiError({ status: 429, code: 'RATE_LIMITED', message: 'slow down' })).toBe(
      'Still too many uploads at once after waiting: try again in a minute.',
    )
    expect(describeFailure({ status: 'FAILED', error: { code: 'CHECKSUM_MISMATCH', message: 'sha256 differs' } })).toBe(
      'Failed: sha256 differs (CHECKSUM_MISMATCH)',
    )
    expect(describeFailure({ status: 'QUARANTINED', error: { code: 'NOT_SCANNED', message: 'too large to scan' } })).toBe(
      'Quarantined: too large to scan (NOT_SCANNED)',
    )
    expect(formatBytes(1536)).toBe('1.5 KB')
  })

  it('explains an upload error from the library, from storage through Uppy, or anything else', () => {
    const apiError = Object.assign(new Error('x'), { name: 'ApiError', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content type text/html is not allowed' })
    expect(describeUploadError(apiError)).toBe('Wrong type: Content type text/html is not allowed.')
    // Uppy's XHR uploader rejects with "Non 2xx" and the request as `source`.
    const storageError = Object.assign(new Error('Non 2xx'), {
      source: { status: 400, responseText: s3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size') },
    })
    expect(describeUploadError(storageError)).toBe('Refused by storage: the file is larger than this upload allows.')
    expect(describeUploadError(Object.assign(new Error('Unknown error'), { source: { status: 0 } }))).toMatch(/^Could not reach storage/)
    expect(describeUploadError(Object.assign(new Error('cannot reach'), { name: 'NetworkError' }))).toBe(
      'Could not reach the service: check the connection and try again.',
    )
    expect(describeUploadError(new Error('something else'))).toBe('something else')
  })

  it('says what it waits for instead of refusing', () => {
    expect(describeWait(12_400, 'rate-limited')).toBe('Waiting 12 s (rate limited), then trying again…')
    expect(describeWait(200, 'unavailable')).toBe('Waiting 1 s (the service is busy), then trying again…')
    expect(describeWait(3_000, 'network')).toBe('Waiting 3 s (connection lost), then trying again…')
  })

  it('sums a batch up in one line', () => {
    expect(summarize({ synced: 148, failed: 2, quarantined: 0, inProgress: 0 })).toBe('148 synced, 2 failed')
    expect(summarize({ synced: 3, failed: 0, quarantined: 1, inProgress: 5 })).toBe('3 synced, 0 failed, 1 quarantined, 5 in progress')
  })
})

describe('the CSV preview', () => {
  it('reads quoted fields, doubled quotes, embedded newlines and CRLF', () => {
    expect(parseCsvPreview('a,b\r\n"x, y","say ""hi"""\r\n"two\nlines",3')).toEqual([
      ['a', 'b'],
      ['x, y', 'say "hi"'],
      ['two\nlines', '3'],
    ])
  })

  it('stops after the rows it needs', () => {
    const text = Array.from({ length: 1000 }, (_, i) => `${i},row`).join('\n')
    expect(parseCsvPreview(text, 3)).toEqual([
      ['0', 'row'],
      ['1', 'row'],
      ['2', 'row'],
    ])
  })
})
