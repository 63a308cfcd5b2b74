import { type Kysely, sql, type Transaction } from 'kysely'
import type { Database, FileRow, NewFileRow, ScanVerdictColumn } from './database.js'
import type { FailureCode, FileRecord, FileStatus } from './files.js'

type Db = Kysely<Database> | Transaction<Database>

const toNumber = (value: string | null): number | null => (value === null ? null : Number(value))

export function toFile(row: FileRow): FileRecord {
  return {
    id: row.id,
    ownerId: row.owner_id,
    externalId: row.external_id,
    filename: row.filename,
    contentType: row.content_type,
    objectKey: row.object_key,
    declaredSize: toNumber(row.declared_size),
    expectedSha256: row.expected_sha256,
    fileSize: toNumber(row.file_size),
    sha256: row.sha256,
    status: row.status,
    error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null,
    syncAttempts: row.sync_attempts,
    uploadExpiresAt: row.upload_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    uploadedAt: row.uploaded_at,
    claimedAt: row.claimed_at,
    syncedAt: row.synced_at,
    scan: row.scan_verdict
      ? { verdict: row.scan_verdict, detail: row.scan_detail ?? '', versionId: row.scan_version_id }
      : null,
  }
}

export async function insertFile(db: Db, row: NewFileRow): Promise<FileRecord> {
  return toFile(await db.insertInto('files').values(row).returningAll().executeTakeFirstOrThrow())
}

export async function findFile(db: Db, id: string): Promise<FileRecord | undefined> {
  const row = await db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst()
  return row && toFile(row)
}

/** Owner-scoped lookup: another owner's file is indistinguishable from a missing one. */
export async function findOwnedFiles(db: Db, ownerId: string, ids: readonly string[]): Promise<Map<string, FileRecord>> {
  if (ids.length === 0) return new Map()
  const rows = await db.selectFrom('files').selectAll().where('owner_id', '=', ownerId).where('id', 'in', ids).execute()
  return new Map(rows.map((row) => [row.id, toFile(row)]))
}

/** PENDING -> UPLOADED; undefined when the file had already moved on. */
export async function markUploaded(trx: Db, id: string, fileSize: number): Promise<FileRecord | undefined> {
  const row = await trx
    .updateTable('files')
    .set({ status: 'UPLOADED', file_size: fileSize, uploaded_at: sql`now()`, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', '=', 'PENDING')
    .returningAll()
    .executeTakeFirst()
  return row && toFile(row)
}

/**
 * Claims a file for hashing: UPLOADED -> SYNCING, a SYNCING claim older than `staleAfterSeconds`
 * (its worker died), or a retries-exhausted failure being redriven. The new `claimed_at` is the
 * claim's token: only its holder can finish it.
 */
export async function claimForSync(db: Db, id: string, staleAfterSeconds: number): Promise<FileRecord | undefined> {
  const row = await db
    .updateTable('files')
    .set({
      status: 'SYNCING',
      // Millisecond precision, so the Date handed back compares equal to the stored token.
      claimed_at: sql`date_trunc('milliseconds', clock_timestamp())`,
      updated_at: sql`now()`,
      sync_attempts: sql`sync_attempts + 1`,
      error_code: null,
      error_message: null,
    })
    .where('id', '=', id)
    .where((eb) =>
      eb.or([
        eb('status', '=', 'UPLOADED'),
        eb.and([
          eb('status', '=', 'SYNCING'),
          eb('claimed_at', '<', sql<Date>`now() - make_interval(secs => ${staleAfterSeconds})`),
        ]),
        eb.and([eb('status', '=', 'FAILED'), eb('error_code', '=', 'RETRIES_EXHAUSTED')]),
      ]),
    )
    .returningAll()
    .executeTakeFirst()
  return row && toFile(row)
}

/** SYNCING -> SYNCED for the holder of the claim. */
export async function markSynced(db: Db, claim: FileRecord, sha256: string): Promise<boolean> {
  const result = await db
    .updateTable('files')
    .set({ status: 'SYNCED', sha256, synced_at: sql`now()`, updated_at: sql`now()` })
    .where('id', '=', claim.id)
    .where('status', '=', 'SYNCING')
    .where('claimed_at', '=', claim.claimedAt)
    .executeTakeFirst()
  return result.numUpdatedRows === 1n
}

/** Marks a file FAILED from `from`; with a claim, only for the claim's holder. */
export async function markFailed(
  db: Db,
  file: Pick<FileRecord, 'id' | 'claimedAt'>,
  from: FileStatus,
  code: FailureCode,
  message: string,
): Promise<boolean> {
  let query = db
    .updateTable('files')
    .set({ status: 'FAILED', error_code: code, error_message: message, updated_at: sql`now()` })
    .where('id', '=', file.id)
    .where('status', '=', from)
  if (from === 'SYNCING' && file.claimedAt) query = query.where('claimed_at', '=', file.claimedAt)
  const result = await query.executeTakeFirst()
  return result.numUpdatedRows === 1n
}

/** SYNCING -> UPLOADED by the claim's holder after a transient error. */
export async function releaseClaim(db: Db, claim: FileRecord): Promise<boolean> {
  const result = await db
    .updateTable('files')
    .set({ status: 'UPLOADED', updated_at: sql`now()` })
    .where('id', '=', claim.id)
    .where('status', '=', 'SYNCING')
    .where('claimed_at', '=', claim.claimedAt)
    .executeTakeFirst()
  return result.numUpdatedRows === 1n
}

export interface ListQuery {
  externalId: string | undefined
  limit: number
  after: { createdAt: Date; id: string } | undefined
}

export async function listOwnedFiles(db: Db, ownerId: string, query: ListQuery): Promise<FileRecord[]> {
  let select = db.selectFrom('files').selectAll().where('owner_id', '=', ownerId)
  if (query.externalId !== undefined) select = select.where('external_id', '=', query.externalId)
  if (query.after) {
    const { createdAt, id } = query.after
    select = select.where((eb) => eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(createdAt, id)))
  }
  const rows = await select.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(query.limit).execute()
  return rows.map(toFile)
}

/** PENDING files whose upload window closed more than `graceSeconds` ago become EXPIRED. */
export async function expireAbandoned(db: Db, graceSeconds: number, limit: number): Promise<FileRecord[]> {
  const rows = await db
    .updateTable('files')
    .set({
      status: 'EXPIRED',
      error_code: 'UPLOAD_EXPIRED',
      error_message: 'the upload was never confirmed',
      updated_at: sql`now()`,
    })
    .where('status', '=', 'PENDING')
    .where(
      'id',
      'in',
      db
        .selectFrom('files')
        .select('id')
        .where('status', '=', 'PENDING')
        .where('upload_expires_at', '<', sql<Date>`now() - make_interval(secs => ${graceSeconds})`)
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .execute()
  return rows.map(toFile)
}

/**
 * Files that should be on their way to SYNCED but have not moved for `idleSeconds`: UPLOADED ones
 * whose message was lost, SYNCING ones whose worker died. Locks them for the caller's transaction.
 */
export async function lockStuck(trx: Transaction<Database>, idleSeconds: number, limit: number): Promise<string[]> {
  const rows = await trx
    .selectFrom('files')
    .select('id')
    .where('status', 'in', ['UPLOADED', 'SYNCING'])
    .where('updated_at', '<', sql<Date>`now() - make_interval(secs => ${idleSeconds})`)
    .orderBy('updated_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute()
  return rows.map((r) => r.id)
}

export async function touch(trx: Transaction<Database>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return
  await trx.updateTable('files').set({ updated_at: sql`now()` }).where('id', 'in', ids).execute()
}

// Malware scanning. The events helper's markQuarantined (with its outbox event) replaces this one on merge.

/**
 * Records a scanner's verdict on whichever file owns `objectKey`, while that file may still be settled
 * (PENDING: the scan of a POST can finish before the confirm). A later verdict replaces an earlier one.
 */
export async function recordScanVerdict(
  db: Db,
  objectKey: string,
  scan: { verdict: ScanVerdictColumn; detail: string; versionId: string | null },
): Promise<FileRecord | undefined> {
  const row = await db
    .updateTable('files')
    .set({ scan_verdict: scan.verdict, scan_detail: scan.detail.slice(0, 1000), scan_version_id: scan.versionId, updated_at: sql`now()` })
    .where('object_key', '=', objectKey)
    .where('status', 'in', ['PENDING', 'UPLOADED', 'SYNCING'])
    .returningAll()
    .executeTakeFirst()
  return row && toFile(row)
}

/** The hash checked out but the verdict is still due: the file stays SYNCING with its digest recorded. */
export async function recordHashed(db: Db, claim: FileRecord, sha256: string): Promise<boolean> {
  const result = await db
    .updateTable('files')
    .set({ sha256, updated_at: sql`now()` })
    .where('id', '=', claim.id)
    .where('status', '=', 'SYNCING')
    .where('claimed_at', '=', claim.claimedAt)
    .executeTakeFirst()
  return result.numUpdatedRows === 1n
}

/** SYNCING -> SYNCED once both the digest and a clean verdict are recorded, by whichever side came last. */
export async function markScannedSynced(db: Db, id: string): Promise<boolean> {
  const result = await db
    .updateTable('files')
    .set({ status: 'SYNCED', synced_at: sql`now()`, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', '=', 'SYNCING')
    .where('sha256', 'is not', null)
    .where('scan_verdict', '=', 'CLEAN')
    .executeTakeFirst()
  return result.numUpdatedRows === 1n
}

/** Moves a file to QUARANTINED from `from`; with a claim, only for the claim's holder. */
export async function markQuarantined(
  db: Db,
  file: Pick<FileRecord, 'id' | 'claimedAt'>,
  from: FileStatus,
  code: Extract<FailureCode, 'MALWARE_DETECTED' | 'NOT_SCANNED'>,
  message: string,
): Promise<boolean> {
  let query = db
    .updateTable('files')
    .set({ status: 'QUARANTINED', error_code: code, error_message: message.slice(0, 1000), updated_at: sql`now()` })
    .where('id', '=', file.id)
    .where('status', '=', from)
  if (from === 'SYNCING' && file.claimedAt) query = query.where('claimed_at', '=', file.claimedAt)
  const result = await query.executeTakeFirst()
  return result.numUpdatedRows === 1n
}
