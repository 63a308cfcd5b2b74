import { mapConcurrent } from './concurrency.js'
import { AppError, fileNotFound } from './errors.js'
import type { Deps } from './deps.js'
import { CONFIRMED_STATUSES, type FileRecord, type FileStatus } from './files.js'
import { findOwnedFiles, markUploaded, withFileLock } from './files.repository.js'
import { leaseFileUploaded, publishLeased } from './outbox.js'
import { incompleteParts } from './parts.js'
import type { ConfirmItem, ConfirmRequest } from './schemas.js'

export interface ConfirmResult {
  confirmed: number
  files: { file_id: string; status: FileStatus }[]
  failed: { file_id: string; error: { code: string; message: string; details?: unknown } }[]
}

type Verdict =
  | { ok: true; status: FileStatus }
  | { ok: false; error: AppError }
  | { ok: 'verify'; file: FileRecord; versionId?: string | null }

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

/**
 * Assembles a multipart file from the parts storage holds, never from ETags a client sends: parts 1..part_count
 * at their planned sizes, or UPLOAD_INCOMPLETE naming the missing and wrong-sized ones (nothing changes). An
 * upload that is already gone was completed by a concurrent confirm, or aborted: the object, if any, decides.
 */
async function assemble(deps: Deps, file: FileRecord): Promise<AppError | { versionId?: string } | undefined> {
  const { storage } = deps
  const { uploadId, ...plan } = file.multipart!
  const size = file.declaredSize!
  const stored = await storage.listParts(file.objectKey, uploadId)
  if (!stored) return undefined
  const { missing, wrong_size } = incompleteParts(plan, size, stored)
  if (missing.length || wrong_size.length) {
    return new AppError(
      'UPLOAD_INCOMPLETE',
      `Storage lacks ${missing.length} part(s) and holds ${wrong_size.length} of the wrong size; upload them and confirm again`,
      { missing, wrong_size },
    )
  }
  const parts = stored.filter((p) => p.partNumber <= plan.partCount).sort((a, b) => a.partNumber - b.partNumber)
  return storage.completeMultipart(file.objectKey, uploadId, parts, size)
}

type Outcome = { fileId: string; status: FileStatus } | { fileId: string; error: AppError }

/**
 * Confirms uploads: completes multipart uploads from their stored parts, checks each object exists with the
 * claimed size, then in one transaction moves the files PENDING -> UPLOADED and writes their outbox rows. After the commit it publishes those
 * rows at once; if that fails the relay's sweep publishes them later.
 */
async function confirmItems(deps: Deps, ownerId: string, items: readonly ConfirmItem[]): Promise<Outcome[]> {
  const { db, storage } = deps
  const files = await findOwnedFiles(db, ownerId, items.map((i) => i.file_id))
  const verdicts = await mapConcurrent(items, 16, async (item): Promise<Verdict> => {
    const verdict = precheck(files.get(item.file_id), item)
    if (verdict.ok !== 'verify') return verdict
    // One completion per file at a time: a racing confirm waits, then finds the upload gone and checks the object.
    // Two CompleteMultipartUpload calls at once are wasted work on S3, and on LocalStack can leave an empty object.
    const file = verdict.file
    const assembled = file.multipart ? await withFileLock(deps.db, file.id, () => assemble(deps, file)) : undefined
    if (assembled instanceof AppError) return { ok: false, error: assembled }
    const head = await storage.head(verdict.file.objectKey)
    if (!head) return { ok: false, error: new AppError('UPLOAD_NOT_FOUND', 'No upload found for this file; upload it before confirming') }
    if (head.size !== item.file_size) return { ok: false, error: sizeMismatch(head.size, item.file_size) }
    // The version checked here is the one recorded: a later POST to the same key cannot change what is hashed or served.
    // A multipart file records the version CompleteMultipartUpload created.
    return { ...verdict, versionId: assembled?.versionId ?? head.versionId }
  })

  const toConfirm = items.filter((_, i) => verdicts[i]!.ok === 'verify')
  const { moved, events } = await db.transaction().execute(async (trx) => {
    const moved = new Set<string>()
    for (const [i, item] of items.entries()) {
      const verdict = verdicts[i]!
      if (verdict.ok !== 'verify') continue
      if (await markUploaded(trx, item.file_id, item.file_size, verdict.versionId ?? null)) moved.add(item.file_id)
    }
    return { moved, events: await leaseFileUploaded(trx, [...moved], deps.config.eagerPublishLeaseSeconds) }
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
  const items = single ? [request] : request.uploads
  // A repeated file_id is that item's failure, not the batch's: the document cannot say "unique by field".
  const seen = new Set<string>()
  const firsts = items.filter((item) => !seen.has(item.file_id) && seen.add(item.file_id))
  const outcomes = await confirmItems(deps, ownerId, firsts)
  if (single && 'error' in outcomes[0]!) throw outcomes[0].error

  const result: ConfirmResult = { confirmed: 0, files: [], failed: [] }
  for (const repeated of items.length === firsts.length ? [] : items.filter((item) => !firsts.includes(item))) {
    result.failed.push({ file_id: repeated.file_id, error: { code: 'VALIDATION_FAILED', message: 'file_id appears more than once in the batch' } })
  }
  for (const outcome of outcomes) {
    if ('error' in outcome) {
      const { code, message, details } = outcome.error
      result.failed.push({ file_id: outcome.fileId, error: { code, message, ...(details === undefined ? {} : { details }) } })
    } else {
      result.confirmed += 1
      result.files.push({ file_id: outcome.fileId, status: outcome.status })
    }
  }
  return result
}
