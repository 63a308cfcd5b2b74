import type { Deps } from './deps.js'
import { type FileRecord, storedObjectOf } from './files.js'
import { claimForSync, findFile, markFailed, markSynced, releaseClaim } from './files.repository.js'
import { digestStream } from './hashing.js'

export type SyncOutcome =
  | 'SYNCED'
  | 'FAILED'
  /** A duplicate delivery of a file that is already SYNCED (or otherwise finished). */
  | 'ALREADY_DONE'
  | 'UNKNOWN_FILE'

/** Thrown to have SQS redeliver the message later; the record is reported as a batch item failure. */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError'
}

export interface Delivery {
  /** SQS ApproximateReceiveCount of this delivery. */
  receiveCount: number
}

/**
 * Takes one file from UPLOADED to SYNCED: claims it, streams the object through SHA-256, checks
 * size and declared checksum, caches small files and records the hash. Idempotent: a duplicate
 * delivery of a finished file is acknowledged. A transient error releases the claim and throws so
 * SQS redelivers; on the last delivery the file is marked FAILED before the message goes to the DLQ.
 */
export async function syncFile(deps: Deps, fileId: string, delivery: Delivery): Promise<SyncOutcome> {
  const { db, config, logger } = deps
  const claim = await claimForSync(db, fileId, config.staleClaimSeconds)
  if (!claim) return explainUnclaimable(deps, fileId)

  try {
    return await hashClaimed(deps, claim)
  } catch (error) {
    if (delivery.receiveCount >= config.maxReceiveCount) {
      await markFailed(db, claim, 'SYNCING', 'RETRIES_EXHAUSTED', `gave up after ${delivery.receiveCount} attempts: ${String(error)}`.slice(0, 1000))
      logger.error('sync failed for the last time; message goes to the DLQ', { file_id: fileId, error: String(error) })
    } else {
      await releaseClaim(db, claim).catch(() => false)
      logger.warn('sync failed; SQS will redeliver', { file_id: fileId, receive_count: delivery.receiveCount, error: String(error) })
    }
    throw error
  }
}

async function explainUnclaimable(deps: Deps, fileId: string): Promise<SyncOutcome> {
  const file = await findFile(deps.db, fileId)
  if (!file) {
    deps.logger.warn('message for an unknown file acknowledged', { file_id: fileId })
    return 'UNKNOWN_FILE'
  }
  if (file.status === 'SYNCING') {
    // Another worker holds a live claim. Retrying later either finds it SYNCED or the claim stale.
    throw new RetryLaterError(`file ${fileId} is being synced by another worker`)
  }
  deps.logger.info('duplicate delivery acknowledged', { file_id: fileId, status: file.status })
  return 'ALREADY_DONE'
}

async function hashClaimed(deps: Deps, claim: FileRecord): Promise<SyncOutcome> {
  const { db, storage, cache, config, logger } = deps
  const fail = async (code: 'UPLOAD_NOT_FOUND' | 'SIZE_MISMATCH' | 'CHECKSUM_MISMATCH', message: string) => {
    await markFailed(db, claim, 'SYNCING', code, message)
    logger.warn('file failed verification', { file_id: claim.id, code, reason: message })
    return 'FAILED' as const
  }

  const stored = storedObjectOf(claim)
  const object = stored && (await storage.getStream(stored))
  if (!object) return fail('UPLOAD_NOT_FOUND', 'the object is missing from storage')
  const digest = await digestStream(object.body, config.cacheMaxBytes)

  if (digest.size !== claim.fileSize) {
    return fail('SIZE_MISMATCH', `the object is ${digest.size} bytes, ${claim.fileSize} were confirmed`)
  }
  if (claim.expectedSha256 && claim.expectedSha256 !== digest.sha256) {
    return fail('CHECKSUM_MISMATCH', `SHA-256 is ${digest.sha256}, the client declared ${claim.expectedSha256}`)
  }
  if (digest.bytes) await cache.set(claim.id, digest.bytes)

  if (!(await markSynced(db, claim, digest.sha256))) {
    logger.warn('claim was retaken before this worker finished; result discarded', { file_id: claim.id })
    return 'ALREADY_DONE'
  }
  logger.info('file synced', { file_id: claim.id, size: digest.size, sha256: digest.sha256 })
  return 'SYNCED'
}
