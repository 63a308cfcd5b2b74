import { randomUUID } from 'node:crypto'
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge'
import { afterAll, describe, expect, it } from 'vitest'
import { deps } from '../../../functions/core/deps.js'
import { SCAN_RESULT_DETAIL_TYPE, SCAN_RESULT_SOURCE } from '../../../functions/core/guardduty.js'
import { sha256, usePipeline } from '../../fixtures/pipeline.js'

// GuardDuty itself is not emulated: the hash stage learns only that a verdict is due, and the test plays GuardDuty,
// putting its result event on LocalStack's default bus, through the provisioned rule and queue to ApplyScanResult.
// Set before the first deps(): the config is read once.
process.env.MALWARE_SCANNER = 'guardduty'

const pipeline = usePipeline()
const api = pipeline.client('gina')
const eventBridge = new EventBridgeClient({ region: process.env.AWS_REGION, endpoint: process.env.AWS_ENDPOINT_URL })
afterAll(() => eventBridge.destroy())

const rowOf = (id: string) =>
  deps().db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

/** A scan result shaped as GuardDuty Malware Protection sends it (see docs and research/events-and-checks.md 4a). */
async function putScanResult(
  fileId: string,
  result: { scanStatus?: string; scanResultStatus: string; threats?: { name: string }[]; versionId?: string },
) {
  const row = await rowOf(fileId)
  const detail = {
    schemaVersion: '1.0',
    scanStatus: result.scanStatus ?? 'COMPLETED',
    resourceType: 'S3_OBJECT',
    s3ObjectDetails: {
      bucketName: process.env.FILES_BUCKET_NAME,
      objectKey: row.object_key,
      eTag: 'etag',
      versionId: result.versionId ?? row.object_version_id,
      s3Throttled: false,
    },
    scanResultDetails: { scanResultStatus: result.scanResultStatus, threats: result.threats ?? null },
  }
  const put = await eventBridge.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: SCAN_RESULT_SOURCE,
          DetailType: SCAN_RESULT_DETAIL_TYPE,
          Resources: [`arn:aws:guardduty:us-east-1:000000000000:malware-protection-plan/${randomUUID()}`],
          Detail: JSON.stringify(detail),
        },
      ],
    }),
  )
  expect(put.FailedEntryCount).toBe(0)
}

const upload = async (bytes: Buffer) => {
  const { post, stored } = await api.upload(bytes, { filename: 'notes.txt', content_type: 'text/plain' })
  expect(stored.status).toBe(204)
  return post.file_id as string
}
const confirm = async (id: string, size: number) => {
  const res = await api.confirm({ file_id: id, file_size: size })
  expect(res.json.files).toEqual([{ file_id: id, status: 'UPLOADED' }])
}

/** Hashed and verified, now waiting for its verdict: SYNCING with the digest recorded, nothing served. */
async function waitUntilHashed(id: string) {
  const deadline = Date.now() + 20_000
  for (;;) {
    const row = await rowOf(id)
    if (row.status === 'SYNCING' && row.sha256) return row
    if (Date.now() > deadline) throw new Error(`file ${id} was not hashed: ${row.status}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const terminal = ['SYNCED', 'FAILED', 'QUARANTINED']

describe('GuardDuty Malware Protection results, applied through the adapter', () => {
  it('holds a hashed file until a clean verdict arrives, then syncs it', async () => {
    const bytes = Buffer.from('quarterly numbers\n')
    const id = await upload(bytes)
    await confirm(id, bytes.length)
    await waitUntilHashed(id)
    const waiting = await api.getFile(id)
    expect(waiting.json).toMatchObject({ file: { status: 'SYNCING' }, content: null, download_url: null })

    await putScanResult(id, { scanResultStatus: 'NO_THREATS_FOUND' })
    const res = await api.waitForStatus(id, terminal)
    expect(res.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes), error: null })
    expect(res.json.content).toBe('quarterly numbers\n')
    const events = await deps().db.selectFrom('outbox').select('event_type').where('file_id', '=', id).where('event_type', '!=', 'file.uploaded').execute()
    expect(events.map((e) => e.event_type)).toEqual(['file.synced'])
  })

  it('quarantines a file GuardDuty found a threat in: no content, no download_url', async () => {
    const bytes = Buffer.from('pretend this is malware\n')
    const id = await upload(bytes)
    await confirm(id, bytes.length)
    await waitUntilHashed(id)
    await putScanResult(id, { scanResultStatus: 'THREATS_FOUND', threats: [{ name: 'EICAR-Test-File (not a virus)' }] })
    const res = await api.waitForStatus(id, terminal)
    expect(res.json).toEqual({
      file: expect.objectContaining({
        status: 'QUARANTINED',
        error: { code: 'MALWARE_DETECTED', message: 'malware found: EICAR-Test-File (not a virus)' },
      }),
      content: null,
      content_encoding: null,
      download_url: null,
    })
    const events = await deps().db.selectFrom('outbox').select('event_type').where('file_id', '=', id).where('event_type', '!=', 'file.uploaded').execute()
    expect(events.map((e) => e.event_type)).toEqual(['file.quarantined'])
  })

  it('joins a verdict that arrives before the confirm with the hash that comes after', async () => {
    const bytes = Buffer.from('scanned before confirmed\n')
    const id = await upload(bytes)
    await putScanResult(id, { scanResultStatus: 'NO_THREATS_FOUND' })
    const deadline = Date.now() + 20_000
    while ((await rowOf(id)).scan_verdict === null) {
      if (Date.now() > deadline) throw new Error('the verdict never reached the file')
      await new Promise((r) => setTimeout(r, 100))
    }
    expect((await rowOf(id)).status).toBe('PENDING')
    await confirm(id, bytes.length)
    const res = await api.waitForStatus(id, terminal)
    expect(res.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes) })
  })

  it('ignores the verdict on another version of the key than the one confirmed', async () => {
    const bytes = Buffer.from('version one\n')
    const id = await upload(bytes)
    await confirm(id, bytes.length)
    await waitUntilHashed(id)
    // A later POST to the key is scanned too (GuardDuty scans every version); its verdict is not this file's.
    await putScanResult(id, { scanResultStatus: 'THREATS_FOUND', threats: [{ name: 'Other.Version' }], versionId: 'another-version' })
    await putScanResult(id, { scanResultStatus: 'NO_THREATS_FOUND' })
    const res = await api.waitForStatus(id, terminal)
    expect(res.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes) })
    expect((await rowOf(id)).scan_detail).toBe('')
  })

  it('never counts an unsupported or failed scan as clean', async () => {
    const bytes = Buffer.from('password-protected archive, say\n')
    const id = await upload(bytes)
    await confirm(id, bytes.length)
    await waitUntilHashed(id)
    await putScanResult(id, { scanResultStatus: 'UNSUPPORTED' })
    const res = await api.waitForStatus(id, terminal)
    expect(res.json.file).toMatchObject({
      status: 'QUARANTINED',
      error: { code: 'NOT_SCANNED', message: 'not scanned for malware: GuardDuty scan COMPLETED: UNSUPPORTED' },
    })
    expect(res.json).toMatchObject({ content: null, download_url: null })
  })
})
