import { purgeDeletedFiles } from './delete-file.js'
import { mapConcurrent } from './concurrency.js'
import type { Deps } from './deps.js'
import { expireAbandoned, findByObjectKeys, lockStuck, touch } from './files.repository.js'
import { enqueueFileUploaded, purgePublished, relayOutbox } from './outbox.js'

export interface SweepResult {
  expired: number
  /** Multipart uploads aborted: those of expired files, and strays no live file is assembled from. */
  aborted: number
  republished: number
  published: number
  purged: number
  /** Deleted files whose object and cache entry were (re)moved by this sweep. */
  erased: number
}

const SWEEP_LIMIT = 500

/**
 * Aborts multipart uploads in the bucket that no PENDING file is being assembled from: presign starts an upload
 * before its row commits, so one whose row never committed, or whose file moved on without aborting it, is found
 * here. Uploads younger than the grace are left alone, as their row may not have committed yet.
 */
async function abortStrayUploads(deps: Deps, limit: number): Promise<number> {
  const { db, storage, config } = deps
  const startedBefore = Date.now() - config.expiryGraceSeconds * 1000
  let aborted = 0
  for await (const page of storage.listMultipartUploads()) {
    const old = page.filter((u) => u.initiated.getTime() < startedBefore)
    const files = await findByObjectKeys(db, [...new Set(old.map((u) => u.key))])
    const live = new Set(files.filter((f) => f.status === 'PENDING' && f.multipart).map((f) => f.multipart!.uploadId))
    const strays = old.filter((u) => !live.has(u.uploadId)).slice(0, limit - aborted)
    await mapConcurrent(strays, 8, (u) => storage.abortMultipart(u.key, u.uploadId))
    for (const u of strays) deps.logger.warn('aborted a stray multipart upload', { key: u.key })
    aborted += strays.length
    if (aborted >= limit) break
  }
  return aborted
}

/**
 * Housekeeping that keeps the guarantees when messages or clients go missing: never-confirmed
 * uploads past their expiry become EXPIRED (their objects, if any, are deleted and their multipart
 * uploads aborted); stray multipart uploads are aborted; files idle in UPLOADED or SYNCING get a
 * fresh outbox row; deleted files left unpurged are purged; the outbox is drained and old published rows purged.
 */
export async function sweepFiles(deps: Deps): Promise<SweepResult> {
  const { db, config, storage, logger } = deps

  const expired = await expireAbandoned(db, config.expiryGraceSeconds, SWEEP_LIMIT)
  // Every version and any multipart upload of the key: a plain delete would leave the bytes under a delete marker,
  // and the bucket expires no versions (lib/constructs/data.ts).
  await mapConcurrent(expired, 8, (f) => storage.erase(f.objectKey))
  const aborted = expired.filter((f) => f.multipart).length + (await abortStrayUploads(deps, SWEEP_LIMIT))

  const republished = await db.transaction().execute(async (trx) => {
    const ids = await lockStuck(trx, config.stuckAfterSeconds, SWEEP_LIMIT)
    await enqueueFileUploaded(trx, ids)
    await touch(trx, ids)
    return ids
  })
  for (const id of republished) logger.warn('re-published a stuck file', { file_id: id })

  const erased = await purgeDeletedFiles(deps, SWEEP_LIMIT)

  const relay = await relayOutbox(db, deps.queue, { bus: deps.bus })
  const purged = await purgePublished(db, config.outboxRetentionHours)
  return { expired: expired.length, aborted, republished: republished.length, published: relay.published, purged, erased }
}
