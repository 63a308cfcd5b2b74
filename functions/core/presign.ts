import { randomUUID } from 'node:crypto'
import { settleConcurrent } from './concurrency.js'
import { AppError, type ErrorBody, RateLimitedError } from './errors.js'
import type { Deps } from './deps.js'
import { insertFile } from './files.repository.js'
import {
  multipartPlan,
  mustBeAllowedContentType,
  mustBeValidFilename,
  mustBeWithinSizeLimit,
  objectKeyFor,
  uploadPolicy,
} from './rules.js'
import type { PresignBody, PresignRequest, presignResponse } from './schemas.js'
import type { z } from 'zod'
import { S3_MAX_POST_SIZE } from './aws-limits.js'

export type PresignResult = z.output<typeof presignResponse>

/** A presigned POST unless the client asks for parts, or declares a size above the threshold or POST's limit. */
function chooseMultipart(input: PresignRequest, threshold: number): boolean {
  if (input.multipart !== undefined || input.file_size === undefined) {
    if (input.multipart === false && input.file_size !== undefined && input.file_size > S3_MAX_POST_SIZE) {
      throw new AppError('PAYLOAD_TOO_LARGE', `A presigned POST takes at most ${S3_MAX_POST_SIZE} bytes; upload in parts`, {
        max_file_size: S3_MAX_POST_SIZE,
      })
    }
    return input.multipart === true
  }
  return input.file_size > threshold || input.file_size > S3_MAX_POST_SIZE
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
  multipart: boolean
}

function checkUpload(deps: Deps, input: PresignRequest): CheckedUpload {
  const { config } = deps
  const filename = mustBeValidFilename(input.filename)
  const contentType = mustBeAllowedContentType(input.content_type, filename, config.allowedContentTypes)
  mustBeWithinSizeLimit(input.file_size, config.maxFileSize)
  return { filename, contentType, multipart: chooseMultipart(input, config.multipartThreshold) }
}

/** Charges `files` uploads to the owner's budget; refused as a whole (and not charged) when they do not fit. */
async function mustBeWithinUploadRate(deps: Deps, ownerId: string, files: number): Promise<void> {
  const { config, cache } = deps
  if (config.presignRateLimit <= 0) return
  const verdict = await cache.rateLimit(`presign:${ownerId}`, config.presignRateLimit, config.presignRateWindowSeconds, files)
  if (!verdict.allowed) {
    throw new RateLimitedError('Too many uploads at once; retry after the time in Retry-After', verdict.retryAfterSeconds)
  }
}

/**
 * Registers a PENDING file and returns how to upload it: a presigned POST whose policy binds the key, size, type,
 * file id (and declared SHA-256), so storage refuses anything else; or, for a large file, a multipart upload the
 * server has already started with the key, type and file id bound, and the part plan to follow.
 */
export async function presignUpload(deps: Deps, ownerId: string, input: PresignRequest): Promise<PresignResult> {
  const checked = checkUpload(deps, input)
  await mustBeWithinUploadRate(deps, ownerId, 1)
  return createUpload(deps, ownerId, input, checked)
}

/**
 * Presigns a batch. Items that break a rule fail on their own and cost nothing; the others are charged
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

async function createUpload(
  deps: Deps,
  ownerId: string,
  input: PresignRequest,
  { filename, contentType, multipart }: CheckedUpload,
): Promise<PresignResult> {
  const { config, storage, db } = deps
  const fileId = randomUUID()
  const key = objectKeyFor(ownerId, fileId)
  const row = {
    id: fileId,
    owner_id: ownerId,
    external_id: input.external_id,
    filename,
    content_type: contentType,
    object_key: key,
    declared_size: input.file_size ?? null,
    expected_sha256: input.sha256 ?? null,
  }

  if (multipart) {
    const fileSize = input.file_size!
    const plan = multipartPlan(fileSize, config.multipartPartSize)
    const expiresAt = new Date(Date.now() + config.multipartUploadTtlSeconds * 1000)
    // Storage first: a failure must not leave a PENDING row behind. An upload whose row never commits is
    // aborted by the sweeper as a stray.
    const uploadId = await storage.createMultipart(key, { contentType, fileId })
    await insertFile(db, {
      ...row,
      upload_expires_at: expiresAt,
      upload_id: uploadId,
      part_size: plan.partSize,
      part_count: plan.partCount,
    })
    deps.logger.info('multipart upload started', { file_id: fileId, part_count: plan.partCount })
    return {
      file_id: fileId,
      upload_type: 'multipart',
      part_size: plan.partSize,
      part_count: plan.partCount,
      expires_at: expiresAt.toISOString(),
      max_file_size: fileSize,
    }
  }

  const maxPostSize = Math.min(config.maxFileSize, S3_MAX_POST_SIZE)
  const expiresAt = new Date(Date.now() + config.uploadUrlTtlSeconds * 1000)
  const policy = uploadPolicy({
    key,
    fileId,
    contentType,
    declaredSize: input.file_size,
    maxFileSize: maxPostSize,
    sha256: input.sha256,
  })
  // Sign first: a signing failure must not leave a PENDING row behind.
  const post = await storage.presignPost(policy, config.uploadUrlTtlSeconds)
  await insertFile(db, { ...row, upload_expires_at: expiresAt })
  deps.logger.info('upload presigned', { file_id: fileId })
  return {
    file_id: fileId,
    upload_type: 'post',
    upload_url: post.url,
    form_fields: post.fields,
    expires_at: expiresAt.toISOString(),
    max_file_size: input.file_size ?? maxPostSize,
  }
}
