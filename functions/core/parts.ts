import type { Deps } from './deps.js'
import { AppError, fileNotFound } from './errors.js'
import type { FileRecord, MultipartPlan } from './files.js'
import { findOwnedFile } from './files.repository.js'
import { partLength, sha256Base64 } from './rules.js'
import type { z } from 'zod'
import type { SignPartsRequest, signPartsResponse } from './schemas.js'
import type { StoredPart } from './storage.js'

/** One signed part as the route answers it: the response schema is the one definition. */
export type SignedPart = z.output<typeof signPartsResponse>['parts'][number]

export interface PartsReport {
  part_size: number
  part_count: number
  parts: { part_number: number; size: number; etag: string }[]
}

type MultipartFile = FileRecord & { multipart: NonNullable<FileRecord['multipart']>; declaredSize: number }

/** The caller's multipart file that is still being uploaded, or the error that says why it is not. */
async function mustBeUploadingInParts(deps: Deps, ownerId: string, fileId: string): Promise<MultipartFile> {
  const file = await findOwnedFile(deps.db, ownerId, fileId)
  if (!file || file.status === 'DELETED') throw fileNotFound()
  if (!file.multipart || file.declaredSize === null) {
    throw new AppError('INVALID_STATE', 'File was presigned for a POST upload, not a multipart upload', { upload_type: 'post' })
  }
  if (file.status !== 'PENDING') {
    throw new AppError('INVALID_STATE', `File is ${file.status}; its parts can no longer change`, { status: file.status })
  }
  return file as MultipartFile
}

/**
 * Signs an UploadPart URL for each requested part, with the part's exact length (and its SHA-256 when the
 * client gives one) signed in, so storage refuses other bytes. URLs are short-lived; ask again for fresh ones.
 */
export async function signParts(deps: Deps, ownerId: string, fileId: string, request: SignPartsRequest): Promise<{ parts: SignedPart[] }> {
  const file = await mustBeUploadingInParts(deps, ownerId, fileId)
  const { partCount } = file.multipart
  const outOfPlan = request.part_numbers.filter((n) => n > partCount)
  if (outOfPlan.length) {
    // 409, not 400: the request is well-formed, but this upload's plan has fewer parts.
    const message = `part_numbers must be between 1 and ${partCount}`
    throw new AppError('INVALID_STATE', message, [{ field: 'body.part_numbers', message, parts: outOfPlan }])
  }
  if (file.uploadExpiresAt.getTime() <= Date.now()) {
    throw new AppError('INVALID_STATE', 'The upload window has closed', { expired_at: file.uploadExpiresAt.toISOString() })
  }
  const ttl = deps.config.partUrlTtlSeconds
  const expiresAt = new Date(Date.now() + ttl * 1000).toISOString()
  const parts = await Promise.all(
    request.part_numbers.map(async (partNumber): Promise<SignedPart> => {
      const size = partLength(file.multipart, file.declaredSize, partNumber)
      const hex = request.sha256?.[String(partNumber)]
      const checksum = hex ? sha256Base64(hex) : undefined
      const url = await deps.storage.presignPart(
        { key: file.objectKey, uploadId: file.multipart.uploadId, partNumber, size, sha256Base64: checksum },
        ttl,
      )
      return { part_number: partNumber, size, url, expires_at: expiresAt, headers: checksum ? { 'x-amz-checksum-sha256': checksum } : {} }
    }),
  )
  return { parts }
}

/** Every part storage holds for the caller's multipart upload, so an interrupted upload resumes where it stopped. */
export async function listUploadedParts(deps: Deps, ownerId: string, fileId: string): Promise<PartsReport> {
  const file = await mustBeUploadingInParts(deps, ownerId, fileId)
  const stored = await deps.storage.listParts(file.objectKey, file.multipart.uploadId)
  if (!stored) throw new AppError('UPLOAD_NOT_FOUND', 'The multipart upload no longer exists in storage')
  return {
    part_size: file.multipart.partSize,
    part_count: file.multipart.partCount,
    parts: stored.map((p) => ({ part_number: p.partNumber, size: p.size, etag: p.etag })),
  }
}

/** Which of parts 1..partCount storage lacks or holds at another size than the plan's. */
export function incompleteParts(
  plan: MultipartPlan,
  fileSize: number,
  stored: readonly StoredPart[],
): { missing: number[]; wrong_size: number[] } {
  const byNumber = new Map(stored.map((p) => [p.partNumber, p]))
  const missing: number[] = []
  const wrongSize: number[] = []
  for (let n = 1; n <= plan.partCount; n += 1) {
    const part = byNumber.get(n)
    if (!part) missing.push(n)
    else if (part.size !== partLength(plan, fileSize, n)) wrongSize.push(n)
  }
  return { missing, wrong_size: wrongSize }
}
