import { describe, expect, it } from 'vitest'
import { storageRefusal } from '../../bin/upload/client.js'
import { EXIT } from '../../bin/upload/errors.js'

describe('the upload CLI', () => {
  it('turns storage refusals into one-line messages: 4xx is the file\'s problem, 5xx the service\'s', () => {
    const expired = storageRefusal(403, '<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>')
    expect([expired.exitCode, expired.message]).toEqual([
      EXIT.FAILED,
      'storage refused the upload: AccessDenied Invalid according to Policy: Policy expired.',
    ])
    const down = storageRefusal(503, '<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>')
    expect([down.exitCode, down.message]).toEqual([EXIT.SERVICE, 'storage refused the upload: SlowDown Reduce your request rate.'])
    expect(storageRefusal(400, 'not xml').message).toBe('storage refused the upload: HTTP 400')
  })
})
