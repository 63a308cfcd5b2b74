import { describe, expect, it } from 'vitest'
import { parseClamdReply } from '../../functions/core/clamav.js'
import { loadConfig } from '../../functions/core/config.js'
import { scanResultEvent, verdictOf } from '../../functions/core/guardduty.js'
import { ScannerUnavailableError } from '../../functions/core/scanner.js'
import { CLAMD_SCAN_MAX_BYTES } from '../../lib/settings.js'

describe('clamd INSTREAM replies', () => {
  it('reads OK as clean and a named FOUND as infected', () => {
    expect(parseClamdReply('stream: OK\0')).toEqual({ kind: 'clean' })
    expect(parseClamdReply('stream: Win.Test.EICAR_HDB-1 FOUND\0')).toEqual({ kind: 'infected', threat: 'Win.Test.EICAR_HDB-1' })
  })

  it('never reads an exceeded limit as clean or as a threat', () => {
    expect(parseClamdReply('stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0')).toEqual({
      kind: 'unscannable',
      reason: 'clamd: Heuristics.Limits.Exceeded.MaxFileSize',
    })
    expect(parseClamdReply('INSTREAM size limit exceeded. ERROR\0')).toMatchObject({ kind: 'unscannable' })
  })

  it('treats any other answer as no verdict', () => {
    expect(() => parseClamdReply('stream: Can\'t allocate memory ERROR\0')).toThrow(ScannerUnavailableError)
    expect(() => parseClamdReply('')).toThrow(ScannerUnavailableError)
  })
})

const event = (scanStatus: string, scanResultStatus: string | null, threats: { name: string }[] | null = null) =>
  scanResultEvent.parse({
    version: '0',
    id: 'e1',
    source: 'aws.guardduty',
    'detail-type': 'GuardDuty Malware Protection Object Scan Result',
    account: '123456789012',
    region: 'us-east-1',
    resources: ['arn:aws:guardduty:us-east-1:123456789012:malware-protection-plan/p1'],
    detail: {
      schemaVersion: '1.0',
      scanStatus,
      resourceType: 'S3_OBJECT',
      s3ObjectDetails: { bucketName: 'b', objectKey: 'k', eTag: 'e', versionId: 'v1', s3Throttled: false },
      scanResultDetails: { scanResultStatus, threats },
    },
  })

describe('GuardDuty scan results', () => {
  it('counts only a completed NO_THREATS_FOUND as clean', () => {
    expect(verdictOf(event('COMPLETED', 'NO_THREATS_FOUND'))).toEqual({ kind: 'clean' })
    for (const status of ['UNSUPPORTED', 'ACCESS_DENIED', 'FAILED']) {
      expect(verdictOf(event('COMPLETED', status))).toEqual({ kind: 'unscannable', reason: `GuardDuty scan COMPLETED: ${status}` })
    }
    expect(verdictOf(event('SKIPPED', null))).toEqual({ kind: 'unscannable', reason: 'GuardDuty scan SKIPPED' })
  })

  it('names the threats it found', () => {
    expect(verdictOf(event('COMPLETED', 'THREATS_FOUND', [{ name: 'EICAR-Test-File' }, { name: 'Trojan.X' }]))).toEqual({
      kind: 'infected',
      threat: 'EICAR-Test-File, Trojan.X',
    })
  })

  it('refuses an event from another source', () => {
    expect(() => scanResultEvent.parse({ ...event('COMPLETED', 'NO_THREATS_FOUND'), source: 'upload-pipeline' })).toThrow()
  })
})

describe('malware scanning configuration', () => {
  const env = { AWS_REGION: 'r', FILES_BUCKET_NAME: 'b', FILES_QUEUE_URL: 'q', DATABASE_URL: 'd', REDIS_URL: 'r' }

  it('is on by default, with ClamAV and quarantine for what it cannot scan', () => {
    expect(loadConfig(env).malwareScanning).toMatchObject({ scanner: 'clamav', unscannable: 'quarantine', maxScanBytes: CLAMD_SCAN_MAX_BYTES })
  })

  it('switches off, and names a scanner it does not know', () => {
    expect(loadConfig({ ...env, MALWARE_SCANNER: 'off' }).malwareScanning.scanner).toBe('off')
    expect(() => loadConfig({ ...env, MALWARE_SCANNER: 'sophos' })).toThrow(/MALWARE_SCANNER must be one of clamav, guardduty, off/)
  })
})
