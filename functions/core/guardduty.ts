import { z } from 'zod'
import type { MalwareScanner, ScanVerdict } from './scanner.js'

/**
 * GuardDuty Malware Protection for S3 scans each object on its own when it is written (POST, PUT, copy,
 * CompleteMultipartUpload), so the hash stage only learns that a verdict is due; it comes with the result event.
 */
export const guardDutyScanner: MalwareScanner = {
  begin: () => ({ streams: false, update: async () => undefined, finish: async () => ({ kind: 'pending' }), abort: () => undefined }),
}

export const SCAN_RESULT_SOURCE = 'aws.guardduty'
export const SCAN_RESULT_DETAIL_TYPE = 'GuardDuty Malware Protection Object Scan Result'

/**
 * The EventBridge event as it reaches the queue (the rule's target delivers the whole event as the message
 * body). Only the fields the verdict needs are required; AWS adds fields over time.
 * https://docs.aws.amazon.com/guardduty/latest/ug/monitor-with-eventbridge-s3-malware-protection.html
 */
export const scanResultEvent = z.object({
  source: z.literal(SCAN_RESULT_SOURCE),
  'detail-type': z.literal(SCAN_RESULT_DETAIL_TYPE),
  detail: z.object({
    scanStatus: z.string(),
    resourceType: z.string().optional(),
    s3ObjectDetails: z.object({
      bucketName: z.string().min(1),
      objectKey: z.string().min(1),
      versionId: z.string().nullish(),
    }),
    scanResultDetails: z
      .object({
        scanResultStatus: z.string().nullish(),
        threats: z.array(z.object({ name: z.string() }).loose()).nullish(),
      })
      .nullish(),
  }),
})

export type ScanResultEvent = z.infer<typeof scanResultEvent>

/**
 * Only `NO_THREATS_FOUND` of a completed scan is clean. `THREATS_FOUND` is infected; every other status
 * (UNSUPPORTED, ACCESS_DENIED, FAILED, a SKIPPED or FAILED scan) means the object was not scanned.
 */
export function verdictOf(event: ScanResultEvent): ScanVerdict {
  const { scanStatus, scanResultDetails } = event.detail
  const result = scanResultDetails?.scanResultStatus ?? undefined
  if (scanStatus === 'COMPLETED' && result === 'NO_THREATS_FOUND') return { kind: 'clean' }
  if (result === 'THREATS_FOUND') {
    const names = (scanResultDetails?.threats ?? []).map((t) => t.name).filter(Boolean)
    return { kind: 'infected', threat: names.length > 0 ? names.join(', ') : 'unnamed threat' }
  }
  return { kind: 'unscannable', reason: `GuardDuty scan ${scanStatus}${result ? `: ${result}` : ''}` }
}
