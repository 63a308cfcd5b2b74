import type { ScanVerdictColumn } from './database.js'
import type { Deps } from './deps.js'
import { type FileRecord, type FileStatus, storedObjectOf } from './files.js'
import { findFile, markFailed, markQuarantined, markScannedSynced, recordScanVerdict } from './files.repository.js'
import { type ScanResultEvent, verdictOf } from './guardduty.js'
import { publishFileEvents } from './outbox.js'
import { QUARANTINE_TAG, type ScanVerdict } from './scanner.js'

export type SettleOutcome = 'SYNCED' | 'QUARANTINED' | 'FAILED' | 'AWAITING'

type Unclean = Extract<ScanVerdict, { kind: 'infected' | 'unscannable' }>

/**
 * Keeps an infected or unscannable file from ever being served: QUARANTINED (its object tagged for review),
 * or FAILED `NOT_SCANNED` for an unscannable one when `MALWARE_UNSCANNABLE=fail`. One guarded update from `from`.
 */
export async function rejectUnclean(
  deps: Deps,
  file: Pick<FileRecord, 'id' | 'claimedAt' | 'objectKey' | 'objectVersionId' | 'fileSize'>,
  from: FileStatus,
  verdict: Unclean,
): Promise<'QUARANTINED' | 'FAILED' | undefined> {
  const { db, storage, logger, config } = deps
  if (verdict.kind === 'unscannable' && config.malwareScanning.unscannable === 'fail') {
    const moved = await markFailed(db, file, from, 'NOT_SCANNED', `not scanned for malware: ${verdict.reason}`)
    if (moved) logger.warn('file could not be scanned; failed', { file_id: file.id, reason: verdict.reason })
    return moved ? 'FAILED' : undefined
  }
  const code = verdict.kind === 'infected' ? 'MALWARE_DETECTED' : 'NOT_SCANNED'
  const message = verdict.kind === 'infected' ? `malware found: ${verdict.threat}` : `not scanned for malware: ${verdict.reason}`
  // The row is what keeps the file from being served; the tag is for the reviewer, so a tagging error only logs.
  const stored = storedObjectOf(file)
  if (stored) {
    await storage.tag(stored, { [QUARANTINE_TAG]: code }).catch((error: unknown) => {
      logger.error('could not tag a quarantined object', { file_id: file.id, error: String(error) })
    })
  }
  const moved = await markQuarantined(db, file, from, message, code)
  if (moved) logger.warn('file quarantined', { file_id: file.id, code, reason: message })
  return moved ? 'QUARANTINED' : undefined
}

const toColumn = (verdict: ScanVerdict): { verdict: ScanVerdictColumn; detail: string } => {
  switch (verdict.kind) {
    case 'clean':
      return { verdict: 'CLEAN', detail: '' }
    case 'infected':
      return { verdict: 'INFECTED', detail: verdict.threat }
    case 'unscannable':
      return { verdict: 'UNSCANNABLE', detail: verdict.reason }
    case 'pending':
      throw new Error('a pending verdict is not recorded')
  }
}

const fromColumn = (scan: NonNullable<FileRecord['scan']>): Exclude<ScanVerdict, { kind: 'pending' }> =>
  scan.verdict === 'CLEAN'
    ? { kind: 'clean' }
    : scan.verdict === 'INFECTED'
      ? { kind: 'infected', threat: scan.detail }
      : { kind: 'unscannable', reason: scan.detail }

/**
 * The join of an asynchronous scan with the hash: each side records its half (the verdict, or the digest) and
 * then calls this, so whichever lands last makes the move. An unclean verdict needs no hash: it quarantines the
 * file at once, even mid-hash (the hash's own final update is guarded by the status and finds it moved).
 */
export async function settleScanned(deps: Deps, fileId: string): Promise<SettleOutcome> {
  const file = await findFile(deps.db, fileId)
  // PENDING waits for its confirm; a finished or deleted file is left as it is.
  if (!file?.scan || (file.status !== 'UPLOADED' && file.status !== 'SYNCING')) return 'AWAITING'
  // Recorded before the confirm, for a version the client then replaced: not the confirmed bytes' verdict.
  if (file.scan.versionId && file.objectVersionId && file.scan.versionId !== file.objectVersionId) return 'AWAITING'
  const verdict = fromColumn(file.scan)
  if (verdict.kind !== 'clean') return (await rejectUnclean(deps, file, file.status, verdict)) ?? 'AWAITING'
  if (file.status === 'SYNCING' && file.sha256 && (await markScannedSynced(deps.db, file.id))) {
    deps.logger.info('file synced after its scan', { file_id: file.id, sha256: file.sha256 })
    return 'SYNCED'
  }
  return 'AWAITING'
}

export type ScanResultOutcome = SettleOutcome | 'OTHER_BUCKET' | 'UNKNOWN_OBJECT'

/** Applies GuardDuty's scan result to the file whose object it scanned. Idempotent: a redelivery settles nothing new. */
export async function applyScanResult(deps: Deps, event: ScanResultEvent): Promise<ScanResultOutcome> {
  const { bucketName, objectKey, versionId } = event.detail.s3ObjectDetails
  if (bucketName !== deps.config.bucketName) {
    deps.logger.warn('scan result for another bucket ignored', { bucket: bucketName })
    return 'OTHER_BUCKET'
  }
  const file = await recordScanVerdict(deps.db, objectKey, { ...toColumn(verdictOf(event)), versionId: versionId ?? null })
  if (!file) {
    deps.logger.info('scan result for no file awaiting one acknowledged', { object_key: objectKey })
    return 'UNKNOWN_OBJECT'
  }
  const outcome = await settleScanned(deps, file.id)
  if (outcome !== 'AWAITING') await publishFileEvents(deps, [file.id])
  return outcome
}
