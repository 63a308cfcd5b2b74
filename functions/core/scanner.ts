import { createClamavScanner } from './clamav.js'
import type { MalwareScanningConfig } from './config.js'
import { guardDutyScanner } from './guardduty.js'

/**
 * What a malware scanner concluded about one file. Only `clean` lets a file become SYNCED; `pending` means the
 * verdict arrives later, on its own (GuardDuty's result event), and is joined with the hash in `scan-verdicts.ts`.
 */
export type ScanVerdict =
  | { readonly kind: 'clean' }
  | { readonly kind: 'infected'; readonly threat: string }
  /** Not scanned: over the scanner's size limit, or a format it cannot open. Never treated as clean. */
  | { readonly kind: 'unscannable'; readonly reason: string }
  | { readonly kind: 'pending' }

/** The scanner could not be reached or gave no verdict; the file waits and is retried, never passed as clean. */
export class ScannerUnavailableError extends Error {
  override readonly name = 'ScannerUnavailableError'
}

/** One file's scan, fed the same chunks, in order, as the hash. */
export interface ScanSession {
  /** Whether it reads the object's bytes (clamd); if not, its verdict is known without them, or comes later. */
  readonly streams: boolean
  /** Resolves once the chunk is handed on, so a slow scanner slows the read instead of buffering the file. */
  update(chunk: Uint8Array): Promise<void>
  /** The verdict once every chunk was given; throws `ScannerUnavailableError` when there is none to be had. */
  finish(): Promise<ScanVerdict>
  /** Ends the scan without a verdict (the hash stage failed the file for another reason). */
  abort(): void
}

/** The port: ClamAV (`clamav.ts`) scans inline; GuardDuty (`guardduty.ts`) scans on its own and reports later. */
export interface MalwareScanner {
  begin(file: { readonly size: number }): ScanSession
}

/** The tag a quarantined object carries in storage, so that a reviewer finds it and the bucket policy denies reads. */
export const QUARANTINE_TAG = 'upload-pipeline-quarantine'

/** The configured scanner, or undefined when scanning is switched off. */
export function createScanner(config: MalwareScanningConfig): MalwareScanner | undefined {
  switch (config.scanner) {
    case 'off':
      return undefined
    case 'clamav':
      return createClamavScanner(config)
    case 'guardduty':
      return guardDutyScanner
  }
}
