import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { mapConcurrent } from './concurrency.js'
import { AppError, fileNotFound } from './errors.js'
import type { Deps } from './deps.js'
import { CONFIRMED_STATUSES, type FileRecord, type FileStatus, type FileView, toFileView } from './files.js'
import { findOwnedFiles, insertFile, listOwnedFiles, markUploaded } from './files.repository.js'
import { leaseFileUploaded, publishLeased } from './outbox.js'
import {
  attachmentDisposition,
  isTextContentType,
  mustBeAllowedContentType,
  mustBeValidFilename,
  mustBeWithinSizeLimit,
  objectKeyFor,
  safeDownloadContentType,
  uploadPolicy,
} from './rules.js'
import type { ConfirmItem, ConfirmRequest, ListQuery, PresignRequest } from './schemas.js'

export interface PresignResult {
  file_id: string
  upload_url: string
  form_fields: Record<string, string>
  expires_at: string
  max_file_size: number
}

/**
 * Registers a PENDING file and returns the presigned POST the client uploads it with. The
 * policy binds the key, size, type and file id, so storage refuses anything else.
 */
export async function presignUpload(deps: Deps, ownerId: string, input: PresignRequest): Promise<PresignResult> {
  const { config, cache, storage, db } = deps
  const filename = mustBeValidFilename(input.filename)
  const contentType = mustBeAllowedContentType(input.content_type, filename, config.allowedContentTypes)
  mustBeWithinSizeLimit(input.file_size, config.maxFileSize)

  if (config.presignRateLimit > 0) {
    const verdict = await cache.rateLimit(`presign:${ownerId}`, config.presignRateLimit, config.presignRateWindowSeconds)
    if (!verdict.allowed) {
      throw new AppError('RATE_LIMITED', 'Too many upload requests; retry later', undefined, {
        'Retry-After': String(verdict.retryAfterSeconds),
      })
    }
  }

  const fileId = randomUUID()
  const key = objectKeyFor(ownerId, fileId)
  const expiresAt = new Date(Date.now() + config.uploadUrlTtlSeconds * 1000)
  const policy = uploadPolicy({
    key,
    fileId,
    contentType,
    declaredSize: input.file_size,
    maxFileSize: config.maxFileSize,
  })
  // Sign first: a signing failure must not leave a PENDING row behind.
  const post = await storage.presignPost(policy, config.uploadUrlTtlSeconds)
  await insertFile(db, {
    id: fileId,
    owner_id: ownerId,
    external_id: input.external_id,
    filename,
    content_type: contentType,
    object_key: key,
    declared_size: input.file_size ?? null,
    expected_sha256: input.sha256 ?? null,
    upload_expires_at: expiresAt,
  })
  deps.logger.info('upload presigned', { file_id: fileId })
  return {
    file_id: fileId,
    upload_url: post.url,
    form_fields: post.fields,
    expires_at: expiresAt.toISOString(),
    max_file_size: input.file_size ?? config.maxFileSize,
  }
}

export interface ConfirmResult {
  confirmed: number
  files: { file_id: string; status: FileStatus }[]
  failed: { file_id: string; error: { code: string; message: string } }[]
}

type Verdict = { ok: true; status: FileStatus } | { ok: false; error: AppError } | { ok: 'verify'; file: FileRecord }

function precheck(file: FileRecord | undefined, item: ConfirmItem): Verdict {
  if (!file) return { ok: false, error: fileNotFound() }
  if (CONFIRMED_STATUSES.includes(file.status)) {
    // Confirming again changes nothing, but a different size is not the same confirmation.
    return file.fileSize === item.file_size
      ? { ok: true, status: file.status }
      : { ok: false, error: sizeMismatch(file.fileSize ?? 0, item.file_size) }
  }
  if (file.status !== 'PENDING') {
    return { ok: false, error: new AppError('INVALID_STATE', `File is ${file.status} and cannot be confirmed`, { status: file.status }) }
  }
  if (file.declaredSize !== null && file.declaredSize !== item.file_size) {
    return { ok: false, error: sizeMismatch(file.declaredSize, item.file_size) }
  }
  return { ok: 'verify', file }
}

const sizeMismatch = (actual: number, claimed: number): AppError =>
  new AppError('SIZE_MISMATCH', `Uploaded object is ${actual} bytes, not ${claimed}`, { expected: claimed, actual })

type Outcome = { fileId: string; status: FileStatus } | { fileId: string; error: AppError }

/**
 * Confirms uploads: checks each object exists with the claimed size, then in one transaction moves
 * the files PENDING -> UPLOADED and writes their outbox rows. After the commit it publishes those
 * rows at once; if that fails the relay's sweep publishes them later.
 */
async function confirmItems(deps: Deps, ownerId: string, items: readonly ConfirmItem[]): Promise<Outcome[]> {
  const { db, storage } = deps
  const files = await findOwnedFiles(db, ownerId, items.map((i) => i.file_id))
  const verdicts = await mapConcurrent(items, 16, async (item): Promise<Verdict> => {
    const verdict = precheck(files.get(item.file_id), item)
    if (verdict.ok !== 'verify') return verdict
    const head = await storage.head(verdict.file.objectKey)
    if (!head) return { ok: false, error: new AppError('UPLOAD_NOT_FOUND', 'No upload found for this file; upload it before confirming') }
    if (head.size !== item.file_size) return { ok: false, error: sizeMismatch(head.size, item.file_size) }
    return verdict
  })

  const toConfirm = items.filter((_, i) => verdicts[i]!.ok === 'verify')
  const { moved, events } = await db.transaction().execute(async (trx) => {
    const moved = new Set<string>()
    for (const item of toConfirm) {
      if (await markUploaded(trx, item.file_id, item.file_size)) moved.add(item.file_id)
    }
    return { moved, events: await leaseFileUploaded(trx, [...moved]) }
  })
  for (const fileId of moved) deps.logger.info('upload confirmed', { file_id: fileId })

  if (events.length) {
    try {
      await publishLeased(db, deps.queue, events)
    } catch (error) {
      deps.logger.warn('eager publish failed; the relay sweep will publish', { error: String(error) })
    }
  }

  // A concurrent confirm may have moved a file between the check and the update: judge it again.
  const raced = await findOwnedFiles(db, ownerId, toConfirm.filter((i) => !moved.has(i.file_id)).map((i) => i.file_id))
  return items.map((item, i) => {
    let verdict = verdicts[i]!
    if (verdict.ok === 'verify') {
      verdict = moved.has(item.file_id) ? { ok: true, status: 'UPLOADED' } : precheck(raced.get(item.file_id), item)
    }
    if (verdict.ok === true) return { fileId: item.file_id, status: verdict.status }
    if (verdict.ok === false) return { fileId: item.file_id, error: verdict.error }
    return { fileId: item.file_id, error: new AppError('INVALID_STATE', 'File changed state during confirm') }
  })
}

/**
 * The confirm route: a single object answers with its own error status when it fails; the batch
 * form always answers 200 with per-item results. Confirming again succeeds and changes nothing.
 */
export async function confirmUploads(deps: Deps, ownerId: string, request: ConfirmRequest): Promise<ConfirmResult> {
  const single = !('uploads' in request)
  const outcomes = await confirmItems(deps, ownerId, single ? [request] : request.uploads)
  if (single && 'error' in outcomes[0]!) throw outcomes[0].error

  const result: ConfirmResult = { confirmed: 0, files: [], failed: [] }
  for (const outcome of outcomes) {
    if ('error' in outcome) {
      result.failed.push({ file_id: outcome.fileId, error: { code: outcome.error.code, message: outcome.error.message } })
    } else {
      result.confirmed += 1
      result.files.push({ file_id: outcome.fileId, status: outcome.status })
    }
  }
  return result
}

export interface GetFileResult {
  body: {
    file: FileView
    content: string | null
    content_encoding: 'utf-8' | 'base64' | null
    download_url: string | null
  }
  cache: 'HIT' | 'MISS' | undefined
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function encodeContent(contentType: string, bytes: Buffer): { content: string; content_encoding: 'utf-8' | 'base64' } {
  if (isTextContentType(contentType)) {
    try {
      return { content: utf8.decode(bytes), content_encoding: 'utf-8' }
    } catch {
      // Declared as text but not valid UTF-8: base64 keeps the bytes intact.
    }
  }
  return { content: bytes.toString('base64'), content_encoding: 'base64' }
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/**
 * A file's metadata and, once SYNCED and small, its content: from the cache when it is there,
 * else from storage (re-caching it). Larger files get a short-lived download URL instead.
 */
export async function getFile(deps: Deps, ownerId: string, fileId: string): Promise<GetFileResult> {
  const { cache, storage, config } = deps
  const file = (await findOwnedFiles(deps.db, ownerId, [fileId])).get(fileId)
  if (!file) throw fileNotFound()

  const result: GetFileResult = {
    body: { file: toFileView(file), content: null, content_encoding: null, download_url: null },
    cache: undefined,
  }
  const inline = file.status === 'SYNCED' && (file.fileSize ?? Infinity) <= config.cacheMaxBytes
  if (inline) {
    let bytes = await cache.get(file.id)
    result.cache = bytes ? 'HIT' : 'MISS'
    if (!bytes) {
      const object = await storage.getStream(file.objectKey)
      if (object) {
        bytes = await readAll(object.body)
        await cache.set(file.id, bytes)
      }
    }
    if (bytes) Object.assign(result.body, encodeContent(file.contentType, bytes))
  }
  if (result.body.content === null && CONFIRMED_STATUSES.includes(file.status)) {
    result.body.download_url = await storage.presignGet(file.objectKey, {
      expiresInSeconds: config.downloadUrlTtlSeconds,
      contentType: safeDownloadContentType(file.contentType),
      contentDisposition: attachmentDisposition(file.filename),
    })
  }
  return result
}

interface Cursor {
  createdAt: Date
  id: string
}

const encodeCursor = (file: FileRecord): string =>
  Buffer.from(JSON.stringify([file.createdAt.toISOString(), file.id])).toString('base64url')

const cursorShape = z.object({
  // Postgres has no year 0; every other four-digit year is within its range.
  createdAt: z.iso.datetime({ offset: true }).refine((s) => !s.startsWith('0000')),
  id: z.uuid(),
})

function decodeCursor(raw: string): Cursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as [unknown, unknown]
    // A cursor is client-held: anything Postgres would refuse (a non-UUID id, a date outside its range) must be a 400, not a 500.
    const cursor = cursorShape.parse({ createdAt, id })
    return { createdAt: new Date(cursor.createdAt), id: cursor.id }
  } catch {
    throw new AppError('VALIDATION_FAILED', 'cursor is not valid', [{ field: 'cursor', message: 'not a cursor from this API' }])
  }
}

/** One page of an owner's files, newest first, optionally for one external id. */
export async function listFiles(deps: Deps, ownerId: string, query: ListQuery): Promise<{ files: FileView[]; next_cursor: string | null }> {
  const rows = await listOwnedFiles(deps.db, ownerId, {
    externalId: query.external_id,
    limit: query.limit + 1,
    after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
  })
  const page = rows.slice(0, query.limit)
  const last = page.at(-1)
  return { files: page.map(toFileView), next_cursor: rows.length > query.limit && last ? encodeCursor(last) : null }
}
