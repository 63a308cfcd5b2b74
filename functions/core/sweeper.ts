import { purgeDeletedFiles } from './delete-file.js'
import type { Deps } from './deps.js'
import { expireAbandoned, lockStuck, touch } from './files.repository.js'
import { enqueueFileUploaded, purgePublished, relayOutbox } from './outbox.js'

export interface SweepResult {
  expired: number
  republished: number
  published: number
  purged: number
  /** Deleted files whose object and cache entry were (re)moved by this sweep. */
  erased: number
}

const SWEEP_LIMIT = 500

/**
 * Housekeeping that keeps the guarantees when messages or clients go missing: never-confirmed
 * uploads past their expiry become EXPIRED (and their objects, if any, are deleted); files idle in
 * UPLOADED or SYNCING get a fresh outbox row; deleted files left unpurged are purged; the outbox is drained and old published rows purged.
 */
export async function sweepFiles(deps: Deps): Promise<SweepResult> {
  const { db, config, storage, logger } = deps

  const expired = await expireAbandoned(db, config.expiryGraceSeconds, SWEEP_LIMIT)
  if (expired.length) await storage.deleteMany(expired.map((f) => f.objectKey))

  const republished = await db.transaction().execute(async (trx) => {
    const ids = await lockStuck(trx, config.stuckAfterSeconds, SWEEP_LIMIT)
    await enqueueFileUploaded(trx, ids)
    await touch(trx, ids)
    return ids
  })
  for (const id of republished) logger.warn('re-published a stuck file', { file_id: id })

  const erased = await purgeDeletedFiles(deps, SWEEP_LIMIT)

  const relay = await relayOutbox(db, deps.queue)
  const purged = await purgePublished(db, config.outboxRetentionHours)
  return { expired: expired.length, republished: republished.length, published: relay.published, purged, erased }
}
