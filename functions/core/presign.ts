import { randomUUID } from 'node:crypto'
import { AppError, type ErrorBody } from './errors.js'
import { settleConcurrent } from './concurrency.js'
import type { Deps } from './deps.js'
import { insertFile } from './files.repository.js'
import { mustBeAllowedContentType, mustBeValidFilename, mustBeWithinSizeLimit, objectKeyFor, uploadPolicy } from './rules.js'
import type { PresignBody, PresignRequest } from './schemas.js'

export interface PresignResult {
  file_id: string
  upload_url: string
  form_fields: Record<string, string>
  expires_at: string
  max_file_size: number
}

export interface PresignBatchResult {
  files: PresignResult[]
  failed: { index: number; error: ErrorBody['error'] }[]
}

/** Item presigns in flight at once: each is one INSERT, so this bounds one request's share of the pool. */
const BATCH_CONCURRENCY = 8

/**
 * Presigns one upload (201 `<upload>`) or a batch (200 `{files, failed}` with per-item errors).
 * The rate limit counts files, so a batch of 100 costs what 100 single requests would.
 */
export async function presign(deps: Deps, ownerId: string, body: PresignBody): Promise<{ status: number; body: PresignResult | PresignBatchResult }> {
  if (!('uploads' in body)) return { status: 201, body: await presignUpload(deps, ownerId, body) }
  return { status: 200, body: await presignUploads(deps, ownerId, body.uploads) }
}

interface CheckedUpload {
  filename: string
  contentType: string
}

function checkUpload(deps: Deps, input: PresignRequest): CheckedUpload {
  const { config } = deps
  const filename = mustBeValidFilename(input.filename)
  const contentType = mustBeAllowedContentType(input.content_type, filename, config.allowedContentTypes)
  mustBeWithinSizeLimit(input.file_size, config.maxFileSize)
  return { filename, contentType }
}

/** Charges `files` uploads to the owner's budget; refused as a whole (and not charged) when they do not fit. */
async function mustBeWithinUploadRate(deps: Deps, ownerId: string, files: number): Promise<void> {
  const { config, cache } = deps
  if (config.presignRateLimit <= 0) return
  const verdict = await cache.rateLimit(`presign:${ownerId}`, config.presignRateLimit, config.presignRateWindowSeconds, files)
  if (!verdict.allowed) {
    throw new AppError('RATE_LIMITED', 'Too many uploads at once; retry after the time in Retry-After', undefined, {
      'Retry-After': String(verdict.retryAfterSeconds),
    })
  }
}

/**
 * Registers a PENDING file and returns the presigned POST the client uploads it with. The
 * policy binds the key, size, type and file id, so storage refuses anything else.
 */
export async function presignUpload(deps: Deps, ownerId: string, input: PresignRequest): Promise<PresignResult> {
  const checked = checkUpload(deps, input)
  await mustBeWithinUploadRate(deps, ownerId, 1)
  return createUpload(deps, ownerId, input, checked)
}

/**
 * Presigns a batch. Invalid items fail on their own and cost nothing; the valid ones are charged
 * together, so the batch is either within the rate limit or refused (429) without a trace.
 */
export async function presignUploads(deps: Deps, ownerId: string, items: readonly PresignRequest[]): Promise<PresignBatchResult> {
  const failed: PresignBatchResult['failed'] = []
  const valid: { index: number; input: PresignRequest; checked: CheckedUpload }[] = []
  items.forEach((input, index) => {
    try {
      valid.push({ index, input, checked: checkUpload(deps, input) })
    } catch (error) {
      if (!(error instanceof AppError)) throw error
      failed.push({ index, error: error.toJSON().error })
    }
  })
  if (valid.length > 0) await mustBeWithinUploadRate(deps, ownerId, valid.length)
  const settled = await settleConcurrent(valid, BATCH_CONCURRENCY, (item) => createUpload(deps, ownerId, item.input, item.checked))
  const files: PresignResult[] = []
  settled.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') files.push(outcome.value)
    // An outage is the whole request's failure (503, retried by the client), not an item's.
    else if (outcome.reason instanceof AppError) failed.push({ index: valid[i]!.index, error: outcome.reason.toJSON().error })
    else throw outcome.reason
  })
  failed.sort((a, b) => a.index - b.index)
  return { files, failed }
}

async function createUpload(deps: Deps, ownerId: string, input: PresignRequest, { filename, contentType }: CheckedUpload): Promise<PresignResult> {
  const { config, storage, db } = deps
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
