import { describe, expect, it } from 'vitest'
import { parseCsvPreview } from '../../web/csv.js'
import { describeApiError, describeFailure, describeStorageError, formatBytes } from '../../web/messages.js'

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
    expect(describeApiError(413, { error: { code: 'PAYLOAD_TOO_LARGE', message: 'x', details: { max_file_size: 5 * 1024 ** 3 } } })).toBe(
      'Too large: files may be at most 5.0 GB.',
    )
    expect(describeApiError(415, { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content type text/html is not allowed' } })).toBe(
      'Wrong type: Content type text/html is not allowed.',
    )
    expect(describeApiError(409, { error: { code: 'SIZE_MISMATCH', message: 'Uploaded object is 3 bytes, not 4' } })).toBe(
      'Uploaded object is 3 bytes, not 4 (SIZE_MISMATCH)',
    )
    expect(describeApiError(401, { message: 'Unauthorized' })).toMatch(/^Not signed in/)
    expect(describeApiError(502, undefined)).toBe('Unexpected answer from the service (HTTP 502).')
    expect(describeFailure({ status: 'FAILED', error: { code: 'CHECKSUM_MISMATCH', message: 'sha256 differs' } })).toBe(
      'Failed: sha256 differs (CHECKSUM_MISMATCH)',
    )
    expect(formatBytes(1536)).toBe('1.5 KB')
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
