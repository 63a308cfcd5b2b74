import { randomBytes } from 'node:crypto'
import { GetObjectTaggingCommand } from '@aws-sdk/client-s3'
import { sql } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { deps } from '../../../functions/core/deps.js'
import { QUARANTINE_TAG } from '../../../functions/core/scanner.js'
import { eicar, EICAR_SIGNATURE } from '../../fixtures/malware.js'
import { sha256, usePipeline } from '../../fixtures/pipeline.js'
import { s3Client } from '../../fixtures/security.js'
import { tcpProxy } from '../../fixtures/tcp-proxy.js'

// This file's clamd is the machine's, reached through a proxy of its own, so stopping "clamd" here disturbs no other
// run. Set before the first deps(): the config is read once.
const clamd = await tcpProxy({ host: '127.0.0.1', port: 3310 })
process.env.MALWARE_SCANNER = 'clamav'
process.env.CLAMD_PORT = String(clamd.port)
process.env.CLAMD_TIMEOUT_MS = '2000'
const SCAN_LIMIT = 4096
process.env.MALWARE_SCAN_MAX_BYTES = String(SCAN_LIMIT)
afterAll(() => clamd.stop())

const pipeline = usePipeline()
const api = pipeline.client('mallory')

const uploadAndConfirm = async (bytes: Buffer, input: Record<string, unknown> = {}) => {
  const { post, stored } = await api.upload(bytes, { filename: 'report.txt', content_type: 'text/plain', ...input })
  expect(stored.status).toBe(204)
  const confirm = await api.confirm({ file_id: post.file_id, file_size: bytes.length })
  expect(confirm.json.files).toEqual([{ file_id: post.file_id, status: 'UPLOADED' }])
  return post.file_id as string
}

const tagsOf = async (fileId: string) => {
  const file = await deps().db.selectFrom('files').select('object_key').where('id', '=', fileId).executeTakeFirstOrThrow()
  const s3 = s3Client()
  try {
    const { TagSet = [] } = await s3.send(new GetObjectTaggingCommand({ Bucket: process.env.FILES_BUCKET_NAME!, Key: file.object_key }))
    return Object.fromEntries(TagSet.map((t) => [t.Key, t.Value]))
  } finally {
    s3.destroy()
  }
}

describe('malware scanning with ClamAV in the hash stage', () => {
  it('quarantines the EICAR test file: no content, no download_url, the object tagged for review', async () => {
    const id = await uploadAndConfirm(eicar())
    const res = await api.waitForStatus(id, ['SYNCED', 'FAILED', 'QUARANTINED'])
    expect(res.json).toEqual({
      file: expect.objectContaining({
        status: 'QUARANTINED',
        sha256: null,
        error: { code: 'MALWARE_DETECTED', message: `malware found: ${EICAR_SIGNATURE}` },
      }),
      content: null,
      content_encoding: null,
      download_url: null,
    })
    expect(await tagsOf(id)).toEqual({ [QUARANTINE_TAG]: 'MALWARE_DETECTED' })
    const events = await deps().db.selectFrom('outbox').select('event_type').where('file_id', '=', id).where('event_type', '!=', 'file.uploaded').execute()
    expect(events.map((e) => e.event_type)).toEqual(['file.quarantined'])

    const listed = await api.list()
    expect(listed.json.files).toEqual([expect.objectContaining({ id, status: 'QUARANTINED' })])
    // A duplicate delivery of the finished file changes nothing.
    const again = await api.getFile(id)
    expect(again.json.file.status).toBe('QUARANTINED')
  })

  it('syncs a clean file that went through clamd', async () => {
    const bytes = Buffer.from('nothing to see here\n')
    const id = await uploadAndConfirm(bytes)
    const res = await api.waitForStatus(id, ['SYNCED', 'FAILED', 'QUARANTINED'])
    expect(res.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes), error: null })
    expect(res.json.content).toBe('nothing to see here\n')
  })

  it('does not pass a file over the scanner limit as clean: it is quarantined as NOT_SCANNED', async () => {
    const bytes = randomBytes(SCAN_LIMIT + 1)
    const id = await uploadAndConfirm(bytes, { filename: 'big.bin', content_type: 'application/octet-stream' })
    const res = await api.waitForStatus(id, ['SYNCED', 'FAILED', 'QUARANTINED'])
    expect(res.json.file).toMatchObject({ status: 'QUARANTINED', error: { code: 'NOT_SCANNED' } })
    expect(res.json.file.error.message).toBe(`not scanned for malware: ${SCAN_LIMIT + 1} bytes is over the scanner's limit of ${SCAN_LIMIT} bytes`)
    expect(res.json).toMatchObject({ content: null, download_url: null })
  })

  it('keeps a file waiting while clamd is down, never passing it, and syncs it once clamd is back', async () => {
    await clamd.stop()
    const bytes = Buffer.from('scanned later\n')
    let id: string
    try {
      id = await uploadAndConfirm(bytes)
      // Several deliveries (the test queue redelivers after 3 s) find no scanner.
      const { db } = deps()
      const deadline = Date.now() + 20_000
      let row
      do {
        await new Promise((r) => setTimeout(r, 250))
        row = await db.selectFrom('files').select(['status', 'sync_attempts', 'sha256']).where('id', '=', id).executeTakeFirstOrThrow()
      } while (row.sync_attempts < 2 && Date.now() < deadline)
      expect(row.sync_attempts).toBeGreaterThanOrEqual(2)
      expect(['UPLOADED', 'SYNCING']).toContain(row.status)
      expect(row.sha256).toBeNull()
      const waiting = await api.getFile(id)
      // Not scanned yet, so not downloadable either.
      expect(waiting.json).toMatchObject({ content: null, download_url: null })
      expect(waiting.json.file.status).not.toBe('SYNCED')
    } finally {
      await clamd.start()
    }
    const res = await api.waitForStatus(id, ['SYNCED', 'FAILED', 'QUARANTINED'], 30_000)
    expect(res.json.file).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes) })
    const attempts = await sql<{ n: number }>`select sync_attempts as n from files where id = ${id}`.execute(deps().db)
    expect(attempts.rows[0]!.n).toBeGreaterThanOrEqual(3)
  })
})
