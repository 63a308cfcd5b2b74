import type { FileStatus, ScanVerdictColumn } from './database.js'

export type { FileStatus }

/** Statuses at which the object is known to be in storage. */
export const CONFIRMED_STATUSES: readonly FileStatus[] = ['UPLOADED', 'SYNCING', 'SYNCED']

export type FailureCode =
  | 'UPLOAD_NOT_FOUND'
  | 'SIZE_MISMATCH'
  | 'CHECKSUM_MISMATCH'
  | 'TYPE_MISMATCH'
  | 'MALWARE_DETECTED'
  /** The malware scanner could not scan it (over its size limit, a format it cannot open): never served. */
  | 'NOT_SCANNED'
  | 'RETRIES_EXHAUSTED'
  | 'UPLOAD_EXPIRED'

/** A file as the domain and the API see it. */
export interface FileRecord {
  id: string
  ownerId: string
  externalId: string
  filename: string
  contentType: string
  objectKey: string
  declaredSize: number | null
  expectedSha256: string | null
  fileSize: number | null
  sha256: string | null
  status: FileStatus
  error: { code: string; message: string } | null
  syncAttempts: number
  uploadExpiresAt: Date
  createdAt: Date
  updatedAt: Date
  uploadedAt: Date | null
  claimedAt: Date | null
  syncedAt: Date | null
  /** A verdict recorded before the file could be settled (GuardDuty); null until one arrives. */
  scan: { verdict: ScanVerdictColumn; detail: string; versionId: string | null } | null
  /** The storage version confirm recorded: every read after confirm is pinned to it. */
  objectVersionId: string | null
  /** Bytes of the object the hash stage has covered so far (its last checkpoint). */
  hashedBytes: number
  /** Set when the file is uploaded in parts: the storage upload id and the part plan it was given. */
  multipart: MultipartPlan & { uploadId: string } | null
}

/** How a multipart file is cut: every part `partSize` bytes but the last. */
export interface MultipartPlan {
  partSize: number
  partCount: number
}

/** The confirmed bytes of a file in storage: a key, the version confirm saw, and the confirmed size. */
export interface StoredObject {
  key: string
  versionId: string | null
  size: number
}

/** What storage reads of a confirmed file are pinned to; undefined before confirm. */
export function storedObjectOf(file: Pick<FileRecord, 'objectKey' | 'objectVersionId' | 'fileSize'>): StoredObject | undefined {
  if (file.fileSize === null) return undefined
  return { key: file.objectKey, versionId: file.objectVersionId, size: file.fileSize }
}

/** The `file` object of the HTTP contract (snake_case). */
export interface FileView {
  id: string
  external_id: string
  filename: string
  content_type: string
  file_size: number | null
  status: FileStatus
  sha256: string | null
  error: { code: string; message: string } | null
  created_at: string
  uploaded_at: string | null
  synced_at: string | null
  /** Bytes hashed so far (the last checkpoint), only while SYNCING. */
  hashed_bytes?: number
}

export function toFileView(file: FileRecord): FileView {
  return {
    id: file.id,
    external_id: file.externalId,
    filename: file.filename,
    content_type: file.contentType,
    file_size: file.fileSize ?? file.declaredSize,
    status: file.status,
    sha256: file.sha256,
    error: file.error,
    created_at: file.createdAt.toISOString(),
    uploaded_at: file.uploadedAt?.toISOString() ?? null,
    synced_at: file.syncedAt?.toISOString() ?? null,
    ...(file.status === 'SYNCING' ? { hashed_bytes: file.hashedBytes } : {}),
  }
}
