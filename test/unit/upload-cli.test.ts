import { describe, expect, it } from 'vitest'
import { ApiError, NetworkError, PartUploadError, StorageError } from '../../client/src/index.js'
import { cliErrorFor, EXIT } from '../../bin/upload/errors.js'

const api = 'http://127.0.0.1:3000'
const uploading = { path: 'big.bin', resumable: true }

describe('the upload CLI', () => {
  it('turns storage refusals into one-line messages: 4xx is the file\'s problem, 5xx the service\'s', () => {
    const expired = cliErrorFor(new StorageError(403, '<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>'), { api })
    expect([expired.exitCode, expired.message]).toEqual([
      EXIT.FAILED,
      'storage refused the upload: AccessDenied Invalid according to Policy: Policy expired.',
    ])
    const down = cliErrorFor(new StorageError(503, '<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>'), { api })
    expect([down.exitCode, down.message]).toEqual([EXIT.SERVICE, 'storage refused the upload: SlowDown Reduce your request rate.'])
    expect(cliErrorFor(new StorageError(400, 'not xml'), { api }).message).toBe('storage refused the upload: HTTP 400')
  })

  it('maps API refusals by who can fix them: the token (2), the file (1), the service (3)', () => {
    const cases: [ApiError, number, string][] = [
      [new ApiError(401, 'UNAUTHORIZED', 'Missing token'), EXIT.USAGE, 'the service rejected the token (UNAUTHORIZED): pass a valid one with --token or UPLOAD_TOKEN'],
      [new ApiError(400, 'VALIDATION_FAILED', 'Invalid body: body.file_size must be positive'), EXIT.FAILED, 'Invalid body: body.file_size must be positive (VALIDATION_FAILED)'],
      // The library has already waited out what it could: a 429 that is still there is the service's trouble.
      [new ApiError(429, 'RATE_LIMITED', 'Too many uploads'), EXIT.SERVICE, 'service error: RATE_LIMITED Too many uploads'],
      [new ApiError(502, undefined, 'HTTP 502'), EXIT.SERVICE, 'service error: HTTP 502 HTTP 502'],
    ]
    for (const [error, exit, message] of cases) expect([cliErrorFor(error, { api }).exitCode, cliErrorFor(error, { api }).message]).toEqual([exit, message])
  })

  it('tells an unreachable service from a part storage refused, and says how to resume', () => {
    const refused = new NetworkError(`POST ${api}/files/presigned-upload`, new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }))
    expect(cliErrorFor(refused, { api, uploading })).toMatchObject({ exitCode: EXIT.SERVICE, message: `cannot reach the service at ${api} (ECONNREFUSED)` })
    const badDigest = cliErrorFor(new PartUploadError(3, 400, '<Error><Code>BadDigest</Code></Error>'), { api, uploading })
    expect([badDigest.exitCode, badDigest.message]).toEqual([EXIT.FAILED, 'cannot upload big.bin to storage: storage refused part 3: HTTP 400 BadDigest; run the same command again to resume'])
    const reset = cliErrorFor(new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } }), { api, uploading: { path: 'a.csv', resumable: false } })
    expect([reset.exitCode, reset.message]).toEqual([EXIT.SERVICE, 'cannot upload a.csv to storage: ECONNRESET'])
  })
})
