import { describe, expect, it } from 'vitest'
import { AppError } from '../../functions/core/errors.js'
import {
  CONTROL_RANGES,
  FORMAT_RANGES,
  FILENAME_PATTERN,
  PRINTABLE_PATTERN,
  attachmentDisposition,
  isTextContentType,
  mustBeAllowedContentType,
  mustBeValidFilename,
  mustBeWithinSizeLimit,
  objectKeyFor,
  safeDownloadContentType,
  uploadPolicy,
} from '../../functions/core/rules.js'

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (error) {
    return error instanceof AppError ? error.code : 'NOT_APP_ERROR'
  }
  return undefined
}

describe('filename rules', () => {
  it('normalizes to NFC and trims', () => {
    expect(mustBeValidFilename('  cafe\u0301.csv ')).toBe('caf\u00e9.csv')
  })

  it.each([
    ['a path traversal', '../../etc/passwd'],
    ['a Windows separator', 'dir\\file.csv'],
    ['a NUL byte', 'a\u0000.csv'],
    ['a newline', 'a\nb.csv'],
    ['a right-to-left override', 'invoice\u202Efdp.exe'],
    ['a dot name', '..'],
    ['only whitespace', '   '],
    ['256 characters', 'x'.repeat(256)],
  ])('rejects %s with VALIDATION_FAILED', (_, name) => {
    expect(codeOf(() => mustBeValidFilename(name))).toBe('VALIDATION_FAILED')
  })

  it('accepts 255 characters and non-Latin names', () => {
    expect(mustBeValidFilename('x'.repeat(255))).toHaveLength(255)
    expect(mustBeValidFilename('отчёт 2026.csv')).toBe('отчёт 2026.csv')
  })
})

describe('the portable patterns the OpenAPI document carries', () => {
  const inRanges = (ranges: readonly (readonly [number, number])[], cp: number) => ranges.some(([a, b]) => cp >= a && cp <= b)

  it('spell out exactly Unicode\'s control (Cc) and format (Cf) characters', () => {
    const cc = /\p{Cc}/u
    const cf = /\p{Cf}/u
    const wrong: string[] = []
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue
      const ch = String.fromCodePoint(cp)
      if (cc.test(ch) !== inRanges(CONTROL_RANGES, cp) || cf.test(ch) !== inRanges(FORMAT_RANGES, cp)) wrong.push(cp.toString(16))
    }
    expect(wrong).toEqual([])
  })

  it('use no \\p{...} or \\u{...} escapes, which Python and Rust regex engines refuse', () => {
    for (const pattern of [PRINTABLE_PATTERN, FILENAME_PATTERN]) expect(pattern).not.toMatch(/\\[pP]\{|\\u\{/)
  })

  it('agree with the filename rule on what they accept', () => {
    const re = new RegExp(FILENAME_PATTERN, 'u')
    for (const name of ['a.csv', ' x ', 'отчёт 2026.csv', '...a']) expect([re.test(name), codeOf(() => mustBeValidFilename(name))]).toEqual([true, undefined])
    for (const name of ['.', '..', '...', ' . ', 'a/b', 'a\\b', 'a\u202Eb', 'a\u{E0001}b', '\u3000']) {
      expect([re.test(name), codeOf(() => mustBeValidFilename(name))]).toEqual([false, 'VALIDATION_FAILED'])
    }
  })
})

describe('content types', () => {
  const allowed = ['text/csv', 'application/octet-stream', 'image/png']

  it('infers the type from the extension when none is declared', () => {
    expect(mustBeAllowedContentType(undefined, 'data.CSV', allowed)).toBe('text/csv')
    expect(mustBeAllowedContentType(undefined, 'no-extension', allowed)).toBe('application/octet-stream')
  })

  it('refuses a type outside the allow-list with 415', () => {
    expect(codeOf(() => mustBeAllowedContentType('text/html', 'x.html', allowed))).toBe('UNSUPPORTED_MEDIA_TYPE')
  })

  it('refuses something that is not a media type with 400', () => {
    expect(codeOf(() => mustBeAllowedContentType('text/csv; charset=utf-8\r\nx: y', 'x.csv', allowed))).toBe('VALIDATION_FAILED')
  })

  it('treats text, JSON and CSV as text', () => {
    expect(isTextContentType('text/csv')).toBe(true)
    expect(isTextContentType('application/json')).toBe(true)
    expect(isTextContentType('image/png')).toBe(false)
  })
})

describe('size limit', () => {
  it('refuses a declared size above the maximum with 413', () => {
    expect(codeOf(() => mustBeWithinSizeLimit(101, 100))).toBe('PAYLOAD_TOO_LARGE')
    expect(codeOf(() => mustBeWithinSizeLimit(100, 100))).toBeUndefined()
    expect(codeOf(() => mustBeWithinSizeLimit(undefined, 100))).toBeUndefined()
  })
})

describe('object keys', () => {
  it('carry a hash of the owner and the file id, never a user-controlled string', () => {
    const key = objectKeyFor('../../alice', '0b6f7c1e-8f0a-4d4c-9a55-0d8f5d8a8c11')
    expect(key).toMatch(/^uploads\/[0-9a-f]{32}\/0b6f7c1e-8f0a-4d4c-9a55-0d8f5d8a8c11$/)
    expect(key).not.toContain('alice')
  })

  it('differ between owners', () => {
    expect(objectKeyFor('alice', 'f')).not.toBe(objectKeyFor('bob', 'f'))
  })
})

describe('the presigned POST policy', () => {
  const base = { key: 'uploads/k/f', fileId: 'f', contentType: 'text/csv', maxFileSize: 1000 }

  it('binds the exact size when the client declares one', () => {
    const policy = uploadPolicy({ ...base, declaredSize: 42 })
    expect(policy.conditions).toEqual([
      ['eq', '$key', 'uploads/k/f'],
      ['content-length-range', 42, 42],
      ['eq', '$Content-Type', 'text/csv'],
      ['eq', '$x-amz-meta-file-id', 'f'],
    ])
    expect(policy.fields).toEqual({ 'Content-Type': 'text/csv', 'x-amz-meta-file-id': 'f' })
  })

  it('allows 1 byte up to the maximum otherwise', () => {
    expect(uploadPolicy({ ...base, declaredSize: undefined }).conditions).toContainEqual(['content-length-range', 1, 1000])
  })
})

describe('downloads', () => {
  it('never serve a type a browser would render as a page', () => {
    expect(safeDownloadContentType('text/html')).toBe('application/octet-stream')
    expect(safeDownloadContentType('image/svg+xml')).toBe('application/octet-stream')
    expect(safeDownloadContentType('application/xhtml+xml')).toBe('application/octet-stream')
    expect(safeDownloadContentType('text/csv')).toBe('text/csv')
  })

  it('are attachments with a header-safe ASCII name and the UTF-8 name', () => {
    expect(attachmentDisposition('a"b;c.csv')).toBe(`attachment; filename="a_b_c.csv"; filename*=UTF-8''a%22b%3Bc.csv`)
    expect(attachmentDisposition('отчёт.csv')).toBe(
      `attachment; filename="_____.csv"; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.csv`,
    )
  })
})
