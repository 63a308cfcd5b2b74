import { type Kysely, sql, type Transaction } from 'kysely'
import type { Database, FileRow, NewFileRow, ScanVerdictColumn } from './database.js'
import { fileEvent, type FileEventType } from './events.js'
import type { FailureCode, FileRecord, FileStatus } from './files.js'

type Db = Kysely<Database> | Transaction<Database>

/** Runs `work` in the caller's transaction, or in a new one when the caller has none. */
function inTransaction<T>(db: Db, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work)
}

/**
 * Writes the event of each final transition into the outbox beside the update that made it. Every
 * final transition is a function of this module that calls it inside the transaction of its
 * guarded update, so no caller can forget the event and a rollback takes the event with it.
 */
async function recordEvents(trx: Transaction<Database>, type: FileEventType, files: readonly FileRecord[]): Promise<void> {
  if (files.length === 0) return
  await trx
    .insertInto('outbox')
    .values(files.map((file) => ({ file_id: file.id, event_type: type, payload: JSON.stringify(fileEvent(type, file)) })))
    .execute()
}

/** A guarded update that ends in a final state: the update and its events commit together. */
async function finalTransition(db: Db, type: FileEventType, update: (trx: Transaction<Database>) => Promise<FileRow[]>): Promise<FileRecord[]> {
  return inTransaction(db, async (trx) => {
    const files = (await update(trx)).map(toFile)
    await recordEvents(trx, type, files)
    return files
  })
}

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
    objectVersionId: row.object_version_id,
    hashedBytes: Number(row.hashed_bytes),
    scan: row.scan_verdict
      ? { verdict: row.scan_verdict, detail: row.scan_detail ?? '', versionId: row.scan_version_id }
      : null,
    multipart:
      row.upload_id === null
        ? null
        : { uploadId: row.upload_id, partSize: Number(row.part_size), partCount: Number(row.part_count) },
  }
}

/**
 * Runs `work` holding a transaction-scoped advisory lock on the file, so that work on one file's storage does not
 * run twice at once; the lock goes with the transaction, however it ends.
 */
export function withFileLock<T>(db: Kysely<Database>, id: string, work: () => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${id}, 0))`.execute(trx)
    return work()
  })
}

export async function insertFile(db: Db, row: NewFileRow): Promise<FileRecord> {
  return toFile(await db.insertInto('files').values(row).returningAll().executeTakeFirstOrThrow())
}

export async function findFile(db: Db, id: string): Promise<FileRecord | undefined> {
  const row = await db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst()
  return row && toFile(row)
}

/** One owner-scoped file, as `findOwnedFiles` sees it: another owner's or a deleted file is a missing one. */
export async function findOwnedFile(db: Db, ownerId: string, id: string): Promise<FileRecord | undefined> {
  return (await findOwnedFiles(db, ownerId, [id])).get(id)
}

/** The files whose object keys are `keys` (the sweeper matches storage's multipart uploads to them). */
export async function findByObjectKeys(db: Db, keys: readonly string[]): Promise<FileRecord[]> {
  if (keys.length === 0) return []
  const rows = await db.selectFrom('files').selectAll().where('object_key', 'in', keys).execute()
  return rows.map(toFile)
}

/**
 * Owner-scoped lookup: another owner's file is indistinguishable from a missing one, and so is a
 * deleted one, so every route that reads through here answers 404 after a delete.
 */
export async function findOwnedFiles(db: Db, ownerId: string, ids: readonly string[]): Promise<Map<string, FileRecord>> {
  if (ids.length === 0) return new Map()
  const rows = await db
    .selectFrom('files')
    .selectAll()
    .where('owner_id', '=', ownerId)
    .where('id', 'in', ids)
    .where('status', '<>', 'DELETED')
    .execute()
  return new Map(rows.map((row) => [row.id, toFile(row)]))
}

/**
 * PENDING -> UPLOADED, recording the size and the storage version that confirm verified (every later
 * read is pinned to that version); undefined when the file had already moved on.
 */
export async function markUploaded(trx: Db, id: string, fileSize: number, versionId: string | null): Promise<FileRecord | undefined> {
  const row = await trx
    .updateTable('files')
    .set({
      status: 'UPLOADED',
      file_size: fileSize,
      object_version_id: versionId,
      uploaded_at: sql`now()`,
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .where('status', '=', 'PENDING')
    .returningAll()
    .executeTakeFirst()
  return row && toFile(row)
}

/**
 * Claims a file for hashing: UPLOADED -> SYNCING, a SYNCING claim older than `staleAfterSeconds`
 * (its worker died) or released to a continuation, or a retries-exhausted failure being redriven. The new `claimed_at` is the
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
          eb.or([
            eb('claimed_at', '<', sql<Date>`now() - make_interval(secs => ${staleAfterSeconds})`),
            // Handed to a continuation (see handOffClaim).
            eb('claimed_at', 'is', null),
          ]),
        ]),
        eb.and([eb('status', '=', 'FAILED'), eb('error_code', '=', 'RETRIES_EXHAUSTED')]),
      ]),
    )
    .returningAll()
    .executeTakeFirst()
  return row && toFile(row)
}

/** SYNCING -> SYNCED for the holder of the claim, with its `file.synced` event. */
export async function markSynced(db: Db, claim: FileRecord, sha256: string): Promise<boolean> {
  const moved = await finalTransition(db, 'file.synced', (trx) =>
    trx
      .updateTable('files')
      .set({ status: 'SYNCED', sha256, synced_at: sql`now()`, updated_at: sql`now()` })
      .where('id', '=', claim.id)
      .where('status', '=', 'SYNCING')
      .where('claimed_at', '=', claim.claimedAt)
      .returningAll()
      .execute(),
  )
  return moved.length === 1
}

/**
 * `from` -> `to` with an error, and the move's event; with a claim, only for the claim's holder. The one guarded
 * update behind every refusal of a file's content.
 */
async function markRefused(
  db: Db,
  file: Pick<FileRecord, 'id' | 'claimedAt'>,
  from: FileStatus,
  to: { status: 'FAILED' | 'QUARANTINED'; event: 'file.failed' | 'file.quarantined' },
  code: FailureCode,
  message: string,
): Promise<boolean> {
  const moved = await finalTransition(db, to.event, (trx) => {
    let query = trx
      .updateTable('files')
      .set({ status: to.status, error_code: code, error_message: message, updated_at: sql`now()` })
      .where('id', '=', file.id)
      .where('status', '=', from)
    if (from === 'SYNCING' && file.claimedAt) query = query.where('claimed_at', '=', file.claimedAt)
    return query.returningAll().execute()
  })
  return moved.length === 1
}

/** Marks a file FAILED from `from`, with its `file.failed` event; with a claim, only for the claim's holder. */
export function markFailed(
  db: Db,
  file: Pick<FileRecord, 'id' | 'claimedAt'>,
  from: FileStatus,
  code: FailureCode,
  message: string,
): Promise<boolean> {
  return markRefused(db, file, from, { status: 'FAILED', event: 'file.failed' }, code, message)
}

/**
 * The scanner found malware: `from` -> QUARANTINED (MALWARE_DETECTED), with its `file.quarantined`
 * event; with a claim, only for the claim's holder. The object stays for review and is never served.
 * A file the scanner could not scan is held the same way, as NOT_SCANNED (MALWARE_UNSCANNABLE=quarantine).
 */
export function markQuarantined(
  db: Db,
  file: Pick<FileRecord, 'id' | 'claimedAt'>,
  from: FileStatus,
  message: string,
  code: Extract<FailureCode, 'MALWARE_DETECTED' | 'NOT_SCANNED'> = 'MALWARE_DETECTED',
): Promise<boolean> {
  return markRefused(db, file, from, { status: 'QUARANTINED', event: 'file.quarantined' }, code, message)
}

/**
 * Any state -> DELETED for the file's owner, with its `file.deleted` event. The tombstone keeps what
 * removing the object and answering 404 need (id, owner, object key, status) and drops the name and
 * the content facts. Returns the record as it was before (its object key), or undefined when
 * nothing of this owner's was left to delete.
 */
export async function markDeleted(db: Db, ownerId: string, id: string): Promise<FileRecord | undefined> {
  return inTransaction(db, async (trx) => {
    // The row lock orders a delete against a finishing hash or confirm: whichever commits second
    // finds the other's state, and every other transition is guarded on a status DELETED is not.
    const before = await trx
      .selectFrom('files')
      .selectAll()
      .where('id', '=', id)
      .where('owner_id', '=', ownerId)
      .where('status', '<>', 'DELETED')
      .forUpdate()
      .executeTakeFirst()
    if (!before) return undefined
    await finalTransition(trx, 'file.deleted', (t) =>
      t
        .updateTable('files')
        .set({
          status: 'DELETED',
          filename: '',
          sha256: null,
          expected_sha256: null,
          error_code: null,
          error_message: null,
          claimed_at: null,
          // A saved hash state can hold up to a block of the file's bytes.
          hash_state: null,
          hash_state_tag: null,
          purged_at: null,
          updated_at: sql`now()`,
        })
        .where('id', '=', id)
        .returningAll()
        .execute(),
    )
    return toFile(before)
  })
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

/** The hash stage's last checkpoint of a file. */
export async function findHashCheckpoint(db: Db, id: string): Promise<{ tag: string | null; offset: number; sealed: Buffer | null } | undefined> {
  const row = await db
    .selectFrom('files')
    .select(['hash_state_tag', 'hashed_bytes', 'hash_state'])
    .where('id', '=', id)
    .executeTakeFirst()
  return row && { tag: row.hash_state_tag, offset: Number(row.hashed_bytes), sealed: row.hash_state }
}

/** Saves the hash state at `offset` for the claim's holder; false when the claim was retaken. */
export async function saveHashCheckpoint(db: Db, claim: FileRecord, tag: string, offset: number, sealed: Buffer): Promise<boolean> {
  const result = await db
    .updateTable('files')
    .set({ hash_state: sealed, hash_state_tag: tag, hashed_bytes: offset, updated_at: sql`now()` })
    .where('id', '=', claim.id)
    .where('status', '=', 'SYNCING')
    .where('claimed_at', '=', claim.claimedAt)
    .executeTakeFirst()
  return result.numUpdatedRows === 1n
}

/**
 * Saves the hash state and releases the claim, leaving the file SYNCING (its progress stays visible)
 * for the continuation message the caller writes to the outbox in the same transaction.
 */
export async function handOffClaim(trx: Db, claim: FileRecord, tag: string, offset: number, sealed: Buffer): Promise<boolean> {
  const result = await trx
    .updateTable('files')
    .set({ hash_state: sealed, hash_state_tag: tag, hashed_bytes: offset, claimed_at: null, updated_at: sql`now()` })
    .where('id', '=', claim.id)
    .where('status', '=', 'SYNCING')
    .where('claimed_at', '=', claim.claimedAt)
    .executeTakeFirst()
  return result.numUpdatedRows === 1n
}

/** Forgets a discarded checkpoint, so progress restarts from 0 for the claim's holder. */
export async function resetHashCheckpoint(db: Db, claim: FileRecord): Promise<void> {
  await db
    .updateTable('files')
    .set({ hash_state: null, hash_state_tag: null, hashed_bytes: 0 })
    .where('id', '=', claim.id)
    .where('claimed_at', '=', claim.claimedAt)
    .execute()
}

/** Drops the saved hash state of a finished file: it holds up to a block of the file's bytes. */
export async function clearHashCheckpoint(db: Db, id: string): Promise<void> {
  await db
    .updateTable('files')
    .set({ hash_state: null, hash_state_tag: null })
    .where('id', '=', id)
    .where('status', 'not in', ['UPLOADED', 'SYNCING'])
    .execute()
}

export interface ListQuery {
  externalId: string | undefined
  limit: number
  after: ListPosition | undefined
}

/**
 * A file's place in a listing: its `created_at` in whole microseconds since the epoch (as Postgres keeps it: a JS
 * Date's milliseconds would fall between the files of one batch presign, which share a transaction's `now()`) and
 * its id.
 */
export interface ListPosition {
  createdAtMicros: bigint
  id: string
}

export async function listOwnedFiles(db: Db, ownerId: string, query: ListQuery): Promise<{ file: FileRecord; position: ListPosition }[]> {
  let select = db
    .selectFrom('files')
    .selectAll()
    .select(sql<string>`(extract(epoch from created_at) * 1000000)::bigint::text`.as('created_at_micros'))
    .where('owner_id', '=', ownerId)
    .where('status', '<>', 'DELETED')
  if (query.externalId !== undefined) select = select.where('external_id', '=', query.externalId)
  if (query.after) {
    const { createdAtMicros, id } = query.after
    const createdAt = sql<Date>`timestamptz 'epoch' + ${createdAtMicros.toString()}::bigint * interval '1 microsecond'`
    select = select.where((eb) => eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(createdAt, id)))
  }
  const rows = await select.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(query.limit).execute()
  return rows.map(({ created_at_micros, ...row }) => ({ file: toFile(row), position: { createdAtMicros: BigInt(created_at_micros), id: row.id } }))
}

/** PENDING files whose upload window closed more than `graceSeconds` ago become EXPIRED, each with its `file.expired` event. */
export async function expireAbandoned(db: Db, graceSeconds: number, limit: number): Promise<FileRecord[]> {
  return finalTransition(db, 'file.expired', (trx) =>
    trx
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
        trx
          .selectFrom('files')
          .select('id')
          .where('status', '=', 'PENDING')
          .where('upload_expires_at', '<', sql<Date>`now() - make_interval(secs => ${graceSeconds})`)
          .limit(limit)
          .forUpdate()
          .skipLocked(),
      )
      .returningAll()
      .execute(),
  )
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

/**
 * DELETED files still to purge: never purged, or purged while their upload URL was still valid
 * and that URL has since expired (a late upload could have recreated the object).
 */
export async function findUnpurged(db: Db, limit: number): Promise<FileRecord[]> {
  const rows = await db
    .selectFrom('files')
    .selectAll()
    .where('status', '=', 'DELETED')
    .where((eb) =>
      eb.or([
        eb('purged_at', 'is', null),
        eb.and([eb('purged_at', '<=', eb.ref('upload_expires_at')), eb('upload_expires_at', '<', sql<Date>`now()`)]),
      ]),
    )
    .orderBy('updated_at')
    .limit(limit)
    .execute()
  return rows.map(toFile)
}

export async function markPurged(db: Db, id: string): Promise<void> {
  await db.updateTable('files').set({ purged_at: sql`now()` }).where('id', '=', id).where('status', '=', 'DELETED').execute()
}

// Malware scanning: the join of an asynchronous verdict (GuardDuty) with the hash.

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
    // GuardDuty scans every version: once confirm pinned one, only that version's verdict counts.
    .$if(scan.versionId !== null, (q) =>
      q.where((eb) => eb.or([eb('object_version_id', 'is', null), eb('object_version_id', '=', scan.versionId)])),
    )
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

/**
 * SYNCING -> SYNCED, with its `file.synced` event, once both the digest and a clean verdict are recorded:
 * made by whichever side came last.
 */
export async function markScannedSynced(db: Db, id: string): Promise<boolean> {
  const moved = await finalTransition(db, 'file.synced', (trx) =>
    trx
      .updateTable('files')
      .set({ status: 'SYNCED', synced_at: sql`now()`, updated_at: sql`now()` })
      .where('id', '=', id)
      .where('status', '=', 'SYNCING')
      .where('sha256', 'is not', null)
      .where('scan_verdict', '=', 'CLEAN')
      .returningAll()
      .execute(),
  )
  return moved.length === 1
}
