import { createHash } from 'node:crypto'
import { S3_MAX_PART_SIZE, S3_MAX_PARTS, S3_MIN_PART_SIZE } from './aws-limits.js'
import { AppError } from './errors.js'
import type { Verdict } from './inspection.js'
import type { MultipartPlan } from './files.js'

export const MAX_FILENAME_LENGTH = 255

/** Unicode's control characters (Cc); `test/unit/rules.test.ts` checks the ranges against `\p{Cc}`. */
export const CONTROL_RANGES: readonly (readonly [number, number])[] = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
]
/** Unicode's format characters (Cf), such as U+202E, which can disguise an extension. */
export const FORMAT_RANGES: readonly (readonly [number, number])[] = [
  [0x00ad, 0x00ad], [0x0600, 0x0605], [0x061c, 0x061c], [0x06dd, 0x06dd], [0x070f, 0x070f], [0x0890, 0x0891],
  [0x08e2, 0x08e2], [0x180e, 0x180e], [0x200b, 0x200f], [0x202a, 0x202e], [0x2060, 0x2064], [0x2066, 0x206f],
  [0xfeff, 0xfeff], [0xfff9, 0xfffb], [0x110bd, 0x110bd], [0x110cd, 0x110cd], [0x13430, 0x1343f],
  [0x1bca0, 0x1bca3], [0x1d173, 0x1d17a], [0xe0001, 0xe0001], [0xe0020, 0xe007f],
]
// What String.prototype.trim removes, less what the classes above already exclude.
const WHITESPACE = String.raw` \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`

/**
 * Ranges as the body of a character class every JSON Schema tool reads: these patterns go into the
 * OpenAPI document, and Python's and Rust's regex engines (openapi-spec-validator, Schemathesis) know
 * neither `\p{...}` nor `\u{...}`. Astral code points are therefore written as literal characters.
 */
const characterClass = (ranges: readonly (readonly [number, number])[]): string => {
  const one = (cp: number): string => (cp > 0xffff ? String.fromCodePoint(cp) : `\\u${cp.toString(16).padStart(4, '0')}`)
  return ranges.map(([a, b]) => (a === b ? one(a) : `${one(a)}-${one(b)}`)).join('')
}

/** Text without control characters (lone surrogates are refused separately: no portable pattern can name them). */
export const PRINTABLE_PATTERN = `^[^${characterClass(CONTROL_RANGES)}]*$`

const FILENAME_FORBIDDEN = `${characterClass([...CONTROL_RANGES, ...FORMAT_RANGES])}/\\\\`
/**
 * A filename: no control or format characters, no path separators, and something besides whitespace
 * and dots (so neither a blank name nor `.`/`..`).
 */
export const FILENAME_PATTERN = `^[^${FILENAME_FORBIDDEN}]*[^${FILENAME_FORBIDDEN}.${WHITESPACE}][^${FILENAME_FORBIDDEN}]*$`

const FORBIDDEN_FILENAME_CHARS = new RegExp(`[${FILENAME_FORBIDDEN}]|\\p{Cs}`, 'u')
const FILENAME = new RegExp(FILENAME_PATTERN, 'u')

/** Lone surrogates: storage and Postgres would silently replace them, so two names could become one. */
export const hasLoneSurrogate = (s: string): boolean => /\p{Cs}/u.test(s)
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/

const TYPES_BY_EXTENSION: Readonly<Record<string, string>> = {
  csv: 'text/csv',
  txt: 'text/plain',
  json: 'application/json',
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  zip: 'application/zip',
  gz: 'application/gzip',
}

/**
 * Normalizes a client-supplied filename (NFC, trimmed) and rejects what must never reach storage
 * or a Content-Disposition header: path separators, control and format characters, dot names.
 */
export function mustBeValidFilename(raw: string): string {
  const fail = (message: string): never => {
    throw new AppError('VALIDATION_FAILED', message, [{ field: 'filename', message }])
  }
  const trimmed = raw.trim()
  if (trimmed.length === 0) fail('filename must not be empty')
  // Counted before NFC, as the document's maxLength counts: NFC may lengthen a few code points.
  if ([...trimmed].length > MAX_FILENAME_LENGTH) fail(`filename must be at most ${MAX_FILENAME_LENGTH} characters`)
  if (FORBIDDEN_FILENAME_CHARS.test(trimmed)) fail('filename must not contain path separators or control characters')
  if (!FILENAME.test(trimmed)) fail('filename must not be a relative path such as . or ..')
  return trimmed.normalize('NFC')
}

/** The declared Content-Type, or one inferred from the extension; checked against the allow-list. */
export function mustBeAllowedContentType(
  declared: string | undefined,
  filename: string,
  allowed: readonly string[],
): string {
  const extension = filename.includes('.') ? filename.split('.').pop()!.toLowerCase() : ''
  const contentType = (declared ?? TYPES_BY_EXTENSION[extension] ?? 'application/octet-stream').trim().toLowerCase()
  if (!MEDIA_TYPE.test(contentType)) {
    throw new AppError('VALIDATION_FAILED', 'content_type must be a media type such as text/csv', [
      { field: 'content_type', message: 'not a media type' },
    ])
  }
  if (!allowed.includes(contentType)) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content type ${contentType} is not allowed`, { allowed })
  }
  return contentType
}

export function mustBeWithinSizeLimit(size: number | undefined, maxFileSize: number): void {
  if (size !== undefined && size > maxFileSize) {
    throw new AppError('PAYLOAD_TOO_LARGE', `file_size exceeds the maximum of ${maxFileSize} bytes`, {
      max_file_size: maxFileSize,
    })
  }
}

/**
 * The object key for a file. It carries the owner (hashed, so no identity-provider string reaches
 * a key) and the file id, never the user's filename. The hash prefix also spreads keys across S3
 * partitions.
 */
export function objectKeyFor(ownerId: string, fileId: string): string {
  const owner = createHash('sha256').update(ownerId).digest('hex').slice(0, 32)
  return `uploads/${owner}/${fileId}`
}

export type PolicyCondition =
  | { [field: string]: string }
  | ['eq' | 'starts-with', string, string]
  | ['content-length-range', number, number]

export interface UploadPolicy {
  key: string
  conditions: PolicyCondition[]
  fields: Record<string, string>
}

/**
 * The presigned-POST policy for one upload: storage itself enforces the exact key, the size range,
 * the Content-Type and the file-id metadata. Anything not listed (for example `acl`) makes S3
 * reject the POST, because every form field must match a condition.
 */
export function uploadPolicy(input: {
  key: string
  fileId: string
  contentType: string
  declaredSize: number | undefined
  maxFileSize: number
  /** The declared SHA-256 (hex): storage then refuses any other bytes. */
  sha256?: string | undefined
}): UploadPolicy {
  const [min, max] = input.declaredSize === undefined ? [1, input.maxFileSize] : [input.declaredSize, input.declaredSize]
  const fields: Record<string, string> = { 'Content-Type': input.contentType, 'x-amz-meta-file-id': input.fileId }
  // S3 checks x-amz-checksum-sha256 against the body only when the form also names the algorithm.
  if (input.sha256) {
    fields['x-amz-checksum-algorithm'] = 'SHA256'
    fields['x-amz-checksum-sha256'] = sha256Base64(input.sha256)
  }
  return {
    key: input.key,
    conditions: [
      ['eq', '$key', input.key],
      ['content-length-range', min, max],
      ...Object.entries(fields).map(([name, value]): PolicyCondition => ['eq', `$${name}`, value]),
    ],
    fields,
  }
}

/** S3's checksum headers carry the digest base64-encoded; the API speaks hex. */
export const sha256Base64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64')

const MiB = 1024 ** 2

/**
 * How a file of `fileSize` bytes is cut into parts: `preferredPartSize` unless that would need more than S3's
 * 10,000 parts, in which case the smallest whole number of MiB that fits. Every part but the last is then
 * between S3's 5 MiB minimum and 5 GiB maximum.
 */
export function multipartPlan(fileSize: number, preferredPartSize: number): MultipartPlan {
  const fitting = Math.ceil(fileSize / S3_MAX_PARTS / MiB) * MiB
  const partSize = Math.min(S3_MAX_PART_SIZE, Math.max(S3_MIN_PART_SIZE, preferredPartSize, fitting))
  const partCount = Math.max(1, Math.ceil(fileSize / partSize))
  if (partCount > S3_MAX_PARTS) throw new RangeError(`${fileSize} bytes do not fit in ${S3_MAX_PARTS} parts`)
  return { partSize, partCount }
}

/** The exact length of part `partNumber` (1-based) of a file of `fileSize` bytes. */
export function partLength(plan: MultipartPlan, fileSize: number, partNumber: number): number {
  return partNumber < plan.partCount ? plan.partSize : fileSize - (plan.partCount - 1) * plan.partSize
}

const TEXT_TYPES = new Set(['application/json', 'application/xml', 'application/csv'])

export function isTextContentType(contentType: string): boolean {
  return contentType.startsWith('text/') || TEXT_TYPES.has(contentType)
}

// Types a browser would render or execute if served from our storage origin.
const ACTIVE_TYPES = /^(text\/(html|xml|javascript|css)|application\/(xhtml\+xml|xml|javascript|ecmascript)|image\/svg\+xml)$/

/** The Content-Type a presigned download is served with: never one a browser renders as a page. */
export function safeDownloadContentType(contentType: string): string {
  return ACTIVE_TYPES.test(contentType) ? 'application/octet-stream' : contentType
}

/** RFC 6266 `attachment` disposition with an ASCII fallback and the UTF-8 name. */
export function attachmentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\%;]/g, '_')
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`
}

/**
 * Types that are one format underneath, so a sniffer seeing either is seeing both: a .docx, .xlsx,
 * .pptx, .odt, .epub or .jar is a zip, and file-type reports the container when it cannot tell which.
 */
const TYPE_FAMILIES: readonly (readonly string[])[] = [
  [
    'application/zip',
    'application/x-zip-compressed',
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    'application/vnd.oasis.opendocument.text',
    'application/vnd.oasis.opendocument.spreadsheet',
    'application/vnd.oasis.opendocument.presentation',
    'application/epub+zip',
    'application/java-archive',
  ],
  ['application/gzip', 'application/x-gzip'],
  ['image/jpeg', 'image/pjpeg'],
]

/** Declared types whose bytes a sniffer always recognises: bytes it cannot place are not that type. */
const SNIFFABLE_TYPES = new Set(['application/pdf', 'image/png', 'image/gif', 'image/webp', ...TYPE_FAMILIES.flat()])

const sameFamily = (a: string, b: string): boolean => a === b || TYPE_FAMILIES.some((f) => f.includes(a) && f.includes(b))

/**
 * Holds a sniffed type against the declared one: a detected binary type must be the declared type or
 * of its family; a declared text type must not sniff as a binary format; formats no sniffer can see
 * (CSV, JSON, plain text) pass on their declaration; `application/octet-stream` declares nothing.
 */
export function contentTypeVerdict(declared: string, sniffed: string | undefined): Verdict {
  const mismatch = (message: string): Verdict => ({ kind: 'fail', code: 'TYPE_MISMATCH', message })
  if (declared === 'application/octet-stream') return { kind: 'ok' }
  if (sniffed === undefined) {
    return SNIFFABLE_TYPES.has(declared) ? mismatch(`declared ${declared}, but the bytes are not in that format`) : { kind: 'ok' }
  }
  if (isTextContentType(declared)) {
    return isTextContentType(sniffed) ? { kind: 'ok' } : mismatch(`declared ${declared}, but the bytes are ${sniffed}`)
  }
  return sameFamily(declared, sniffed) ? { kind: 'ok' } : mismatch(`declared ${declared}, but the bytes are ${sniffed}`)
}
