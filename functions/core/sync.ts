import type { Deps } from './deps.js'
import { type FileRecord, storedObjectOf } from './files.js'
import { claimForSync, findFile, markFailed, markSynced, recordHashed, releaseClaim } from './files.repository.js'
import { digestStream } from './hashing.js'
import { rejectUnclean, settleScanned } from './scan-verdicts.js'
import { feeding, ScannerUnavailableError } from './scanner.js'

export type SyncOutcome =
  | 'SYNCED'
  | 'FAILED'
  /** The malware scanner found a threat, or could not scan the file (see MALWARE_UNSCANNABLE). */
  | 'QUARANTINED'
  /** Hashed and verified; an asynchronous scanner's verdict (GuardDuty) will settle it. */
  | 'AWAITING_SCAN'
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
    // A scanner outage never fails a file, nor passes it: it waits in UPLOADED. Past the last delivery the message
    // goes to the DLQ, and the sweeper re-publishes the file once it has been idle for STUCK_AFTER_SECONDS.
    if (error instanceof ScannerUnavailableError) {
      await releaseClaim(db, claim).catch(() => false)
      logger.warn('malware scanner unavailable; the file waits', { file_id: fileId, receive_count: delivery.receiveCount, error: error.message })
      throw error
    }
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

  // Verified by an earlier claim and waiting for an asynchronous verdict: nothing to read again.
  if (claim.sha256) return afterScan(await settleScanned(deps, claim.id))

  const stored = storedObjectOf(claim)
  const object = stored && (await storage.getStream(stored))
  if (!object) return fail('UPLOAD_NOT_FOUND', 'the object is missing from storage')
  const scan = deps.scanner?.begin({ size: claim.fileSize ?? object.size })
  let digest: Awaited<ReturnType<typeof digestStream>>
  try {
    digest = await digestStream(scan ? feeding(scan, object.body) : object.body, config.cacheMaxBytes)
  } catch (error) {
    scan?.abort()
    throw error
  }

  if (digest.size !== claim.fileSize) {
    scan?.abort()
    return fail('SIZE_MISMATCH', `the object is ${digest.size} bytes, ${claim.fileSize} were confirmed`)
  }
  if (claim.expectedSha256 && claim.expectedSha256 !== digest.sha256) {
    scan?.abort()
    return fail('CHECKSUM_MISMATCH', `SHA-256 is ${digest.sha256}, the client declared ${claim.expectedSha256}`)
  }
  const verdict = scan ? await scan.finish() : ({ kind: 'clean' } as const)
  if (verdict.kind === 'infected' || verdict.kind === 'unscannable') {
    return (await rejectUnclean(deps, claim, 'SYNCING', verdict)) ?? 'ALREADY_DONE'
  }
  if (verdict.kind === 'pending') {
    if (!(await recordHashed(db, claim, digest.sha256))) return 'ALREADY_DONE'
    return afterScan(await settleScanned(deps, claim.id))
  }
  if (digest.bytes) await cache.set(claim.id, digest.bytes)

  if (!(await markSynced(db, claim, digest.sha256))) {
    logger.warn('claim was retaken before this worker finished; result discarded', { file_id: claim.id })
    return 'ALREADY_DONE'
  }
  logger.info('file synced', { file_id: claim.id, size: digest.size, sha256: digest.sha256 })
  return 'SYNCED'
}

const afterScan = (outcome: Awaited<ReturnType<typeof settleScanned>>): SyncOutcome =>
  outcome === 'AWAITING' ? 'AWAITING_SCAN' : outcome
