import { randomUUID } from 'node:crypto'
import { AppError } from './errors.js'
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
import type { PresignRequest, presignResponse } from './schemas.js'
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

/**
 * Registers a PENDING file and returns how to upload it: a presigned POST whose policy binds the key, size, type,
 * file id (and declared SHA-256), so storage refuses anything else; or, for a large file, a multipart upload the
 * server has already started with the key, type and file id bound, and the part plan to follow.
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

  if (chooseMultipart(input, config.multipartThreshold)) {
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
