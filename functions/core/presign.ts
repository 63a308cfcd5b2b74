import { randomUUID } from 'node:crypto'
import { RateLimitedError } from './errors.js'
import type { Deps } from './deps.js'
import { insertFile } from './files.repository.js'
import { mustBeAllowedContentType, mustBeValidFilename, mustBeWithinSizeLimit, objectKeyFor, uploadPolicy } from './rules.js'
import type { PresignRequest } from './schemas.js'

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
      throw new RateLimitedError('Too many upload requests; retry later', verdict.retryAfterSeconds)
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
