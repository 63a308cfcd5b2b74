import { queueConsumers } from '../../lib/routes.js'
import type { Deps } from './deps.js'
import { type FileRecord, storedObjectOf } from './files.js'
import {
  claimForSync,
  clearHashCheckpoint,
  findFile,
  findHashCheckpoint,
  handOffClaim,
  markFailed,
  markSynced,
  recordHashed,
  releaseClaim,
  resetHashCheckpoint,
  saveHashCheckpoint,
} from './files.repository.js'
import { chunkCollector, HASHER_TAG, resumeHash, singlePassHash } from './hashing.js'
import { InspectionRun, type Verdict } from './inspection.js'
import { leaseFileUploaded, publishFileEvents, publishLeased } from './outbox.js'
import { ObjectGoneError, readInOrder } from './ranged-read.js'
import { rejectUnclean, settleScanned } from './scan-verdicts.js'
import { ScannerUnavailableError, type ScanVerdict } from './scanner.js'

export type SyncOutcome =
  | 'SYNCED'
  | 'FAILED'
  /** The malware scanner found a threat, or could not scan the file (see MALWARE_UNSCANNABLE). */
  | 'QUARANTINED'
  /** Hashed and verified; an asynchronous scanner's verdict (GuardDuty) will settle it. */
  | 'AWAITING_SCAN'
  /** The invocation's time ran out: the hash state is saved and a continuation message is in the outbox. */
  | 'CONTINUED'
  /** A duplicate delivery of a file that is already SYNCED (or otherwise finished). */
  | 'ALREADY_DONE'
  | 'UNKNOWN_FILE'

/** Outcomes whose transition wrote an event, published right after (`publishFileEvents`). */
const FINAL_OUTCOMES: ReadonlySet<SyncOutcome> = new Set(['SYNCED', 'FAILED', 'QUARANTINED'])

/** Thrown to have SQS redeliver the message later; the record is reported as a batch item failure. */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError'
}

export interface Delivery {
  /** SQS ApproximateReceiveCount of this delivery. */
  receiveCount: number
  /** The Lambda context's remaining time; without it the invocation has no deadline. */
  remainingTimeMs?: () => number
}

const hashConsumer = queueConsumers.find((c) => c.id === 'HashFile')!
/**
 * Time kept back from the invocation's remaining time to save the checkpoint, release the claim and
 * publish the continuation: a tenth of the hash function's timeout (30 s of 300 s), from the route table.
 */
export const HANDOFF_RESERVE_MS = (hashConsumer.timeoutSeconds * 1000) / 10

/**
 * Takes one file from UPLOADED to SYNCED: claims it, reads the confirmed version once, feeding every
 * chunk in order to a resumable SHA-256 and to the content inspectors, checks size, declared checksum
 * and the inspectors' verdicts, records the hash and then caches small files. A large object is
 * hashed across invocations: the state is checkpointed as it goes, and before the invocation's time
 * runs out it is handed to a continuation message. Idempotent: a duplicate delivery of a finished
 * file is acknowledged. A transient error releases the claim and throws so SQS redelivers; on the
 * last delivery the file is marked FAILED before the message goes to the DLQ.
 */
export async function syncFile(deps: Deps, fileId: string, delivery: Delivery): Promise<SyncOutcome> {
  const { db, config, logger } = deps
  const startedAt = Date.now()
  const claim = await claimForSync(db, fileId, config.staleClaimSeconds)
  if (!claim) return explainUnclaimable(deps, fileId)

  try {
    const outcome = await hashClaimed(deps, claim, deadlineOf(deps, delivery, startedAt))
    if (FINAL_OUTCOMES.has(outcome)) await publishFileEvents(deps, [fileId])
    return outcome
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
      await publishFileEvents(deps, [fileId])
      logger.error('sync failed for the last time; message goes to the DLQ', { file_id: fileId, error: String(error) })
    } else {
      await releaseClaim(db, claim).catch(() => false)
      logger.warn('sync failed; SQS will redeliver', { file_id: fileId, receive_count: delivery.receiveCount, error: String(error) })
    }
    throw error
  }
}

function deadlineOf(deps: Deps, delivery: Delivery, startedAt: number): number {
  const left = delivery.remainingTimeMs?.()
  // A context with less time than the function's timeout (an invocation given a shorter one) keeps back a tenth of it.
  const remaining = left === undefined ? Number.POSITIVE_INFINITY : left - Math.min(HANDOFF_RESERVE_MS, left / 10)
  const budget = Math.min(remaining, deps.config.hashInvocationBudgetMs ?? Number.POSITIVE_INFINITY)
  return startedAt + Math.max(0, budget)
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

async function hashClaimed(deps: Deps, claim: FileRecord, deadline: number): Promise<SyncOutcome> {
  const { db, storage, cache, config, logger } = deps
  const fail = async (code: Extract<Verdict, { kind: 'fail' }>['code'], message: string) => {
    await markFailed(db, claim, 'SYNCING', code, message)
    await clearHashCheckpoint(db, claim.id)
    logger.warn('file failed verification', { file_id: claim.id, code, reason: message })
    return 'FAILED' as const
  }
  const apply = async (verdict: Exclude<Verdict, { kind: 'ok' }>): Promise<SyncOutcome> => {
    switch (verdict.kind) {
      case 'fail':
        return fail(verdict.code, verdict.message)
      case 'retry-later':
        throw new RetryLaterError(verdict.reason)
      default:
        return verdict satisfies never
    }
  }

  const stored = storedObjectOf(claim)
  if (!stored) return fail('UPLOAD_NOT_FOUND', 'the file was never confirmed')
  // Verified by an earlier claim and waiting for an asynchronous verdict: nothing to read again.
  if (claim.sha256) return afterScan(await settleScanned(deps, claim.id))
  const checkpoint = await findHashCheckpoint(db, claim.id)
  const resumable = stored.size > config.hashSinglePassMaxBytes || (checkpoint?.offset ?? 0) > 0
  const { hash, discarded } = resumable ? await resumeHash(checkpoint) : { hash: singlePassHash(), discarded: undefined }
  if (discarded) {
    logger.warn('hash checkpoint discarded; hashing starts over', { file_id: claim.id, reason: discarded })
    await resetHashCheckpoint(db, claim)
  }
  const inspection = new InspectionRun(
    hash.offset === 0 ? deps.inspectors.flatMap((create) => create(claim) ?? []) : [],
  )
  // Like an inspector, a scan that streams the object keeps it in this invocation (no checkpoint, no hand-off).
  const scan = hash.offset === 0 ? deps.scanner?.begin({ size: stored.size }) : undefined
  // Only a file read whole in this invocation can be cached, and only once it is SYNCED.
  let kept: Uint8Array[] | undefined = hash.offset === 0 && stored.size <= config.cacheMaxBytes ? [] : undefined
  const collect = chunkCollector()
  let checkpointedAt = hash.offset

  try {
    for await (const chunk of readInOrder(storage, stored, hash.offset, { rangeBytes: config.hashRangeBytes, concurrency: config.hashReadConcurrency })) {
      hash.update(chunk)
      if (scan?.streams) await scan.update(chunk)
      kept?.push(chunk)
      collect(chunk.length)
      const verdict = await inspection.update(chunk)
      if (verdict.kind !== 'ok') {
        scan?.abort()
        return await apply(verdict)
      }
      // A single-pass hash finishes here whatever the clock says: its objects fit one invocation by construction.
      if (hash.offset >= stored.size || inspection.busy || scan?.streams || !hash.resumable) continue

      if (Date.now() >= deadline) {
        const handed = await db.transaction().execute(async (trx) => {
          if (!(await handOffClaim(trx, claim, HASHER_TAG, hash.offset, hash.save()))) return undefined
          return leaseFileUploaded(trx, [claim.id], config.eagerPublishLeaseSeconds)
        })
        if (!handed) return retaken(deps, claim)
        await publishLeased(db, deps.queue, handed).catch((error: unknown) =>
          logger.warn('continuation publish failed; the relay sweep will publish it', { file_id: claim.id, error: String(error) }),
        )
        logger.info('hash continues in another invocation', { file_id: claim.id, hashed_bytes: hash.offset, size: stored.size })
        return 'CONTINUED'
      }
      if (hash.offset - checkpointedAt >= config.hashCheckpointBytes) {
        if (!(await saveHashCheckpoint(db, claim, HASHER_TAG, hash.offset, hash.save()))) return retaken(deps, claim)
        checkpointedAt = hash.offset
      }
    }
  } catch (error) {
    scan?.abort()
    if (error instanceof ObjectGoneError) return fail('UPLOAD_NOT_FOUND', 'the confirmed version is missing from storage')
    throw error
  }
  const verdict = await inspection.end()
  if (verdict.kind !== 'ok') {
    scan?.abort()
    return apply(verdict)
  }

  if (hash.offset !== stored.size) {
    scan?.abort()
    return fail('SIZE_MISMATCH', `the object is ${hash.offset} bytes, ${stored.size} were confirmed`)
  }
  const sha256 = hash.digest()
  if (claim.expectedSha256 && claim.expectedSha256 !== sha256) {
    scan?.abort()
    return fail('CHECKSUM_MISMATCH', `SHA-256 is ${sha256}, the client declared ${claim.expectedSha256}`)
  }
  const scanned = await scanVerdict(deps, scan, stored.size)
  if (scanned.kind === 'infected' || scanned.kind === 'unscannable') {
    const moved = await rejectUnclean(deps, claim, 'SYNCING', scanned)
    if (!moved) return retaken(deps, claim)
    await clearHashCheckpoint(db, claim.id)
    return moved
  }
  if (scanned.kind === 'pending') {
    if (!(await recordHashed(db, claim, sha256))) return retaken(deps, claim)
    await clearHashCheckpoint(db, claim.id)
    return afterScan(await settleScanned(deps, claim.id))
  }
  if (!(await markSynced(db, claim, sha256))) return retaken(deps, claim)
  await clearHashCheckpoint(db, claim.id)
  // After the guarded move, so a file deleted meanwhile never gets a cache entry back.
  if (kept) await cache.set(claim.id, Buffer.concat(kept, stored.size))
  kept = undefined
  logger.info('file synced', { file_id: claim.id, size: stored.size, sha256 })
  return 'SYNCED'
}

function retaken(deps: Deps, claim: FileRecord): SyncOutcome {
  deps.logger.warn('claim was retaken before this worker finished; result discarded', { file_id: claim.id })
  return 'ALREADY_DONE'
}

/**
 * The scanner's verdict on the bytes just hashed. A hash resumed from a checkpoint had no scan of its first bytes in
 * this invocation; a scanner that needs to stream the object cannot vouch for it, so it is never clean.
 */
async function scanVerdict(deps: Deps, scan: ReturnType<NonNullable<Deps['scanner']>['begin']> | undefined, size: number): Promise<ScanVerdict> {
  if (!deps.scanner) return { kind: 'clean' }
  if (scan) return scan.finish()
  const late = deps.scanner.begin({ size })
  if (!late.streams) return late.finish()
  late.abort()
  return { kind: 'unscannable', reason: 'hashed across invocations from a checkpoint: the scan needs the object in one read' }
}

const afterScan = (outcome: Awaited<ReturnType<typeof settleScanned>>): SyncOutcome =>
  outcome === 'AWAITING' ? 'AWAITING_SCAN' : outcome
