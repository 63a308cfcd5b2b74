import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { beforeEach, describe, expect, it } from 'vitest'
import type { FileStatus } from '../../functions/core/database.js'
import { deps } from '../../functions/core/deps.js'
import type { FileEvent } from '../../functions/core/events.js'
import {
  claimForSync,
  expireAbandoned,
  findFile,
  markDeleted,
  markFailed,
  markQuarantined,
  markSynced,
} from '../../functions/core/files.repository.js'
import { resetState } from '../fixtures/pipeline.js'

beforeEach(resetState)

const OWNER = 'events-test'

async function fileIn(status: FileStatus, extra: { upload_expires_at?: Date } = {}): Promise<string> {
  const id = randomUUID()
  await deps()
    .db.insertInto('files')
    .values({
      id,
      owner_id: OWNER,
      external_id: 'ext-9',
      filename: 'payroll 2026.csv',
      content_type: 'text/csv',
      object_key: `uploads/${OWNER}/${id}`,
      status,
      file_size: 4,
      upload_expires_at: extra.upload_expires_at ?? new Date(Date.now() + 60_000),
    })
    .execute()
  return id
}

const events = async (): Promise<(FileEvent & { file_id: string; event_type: string })[]> => {
  const rows = await deps().db.selectFrom('outbox').selectAll().where('event_type', '<>', 'file.uploaded').orderBy('id').execute()
  return rows.map((r) => ({ ...(r.payload as unknown as FileEvent), file_id: r.file_id, event_type: r.event_type }))
}

const claimed = async (status: FileStatus = 'UPLOADED') => (await claimForSync(deps().db, await fileIn(status), 60))!

describe('events of final transitions, through the outbox', () => {
  it('writes file.synced with the file view as it is after the move', async () => {
    const claim = await claimed()
    expect(await markSynced(deps().db, claim, 'a'.repeat(64))).toBe(true)

    const [event, ...rest] = await events()
    expect(rest).toEqual([])
    expect(event).toMatchObject({
      type: 'file.synced',
      event_type: 'file.synced',
      file_id: claim.id,
      data: { file: { id: claim.id, status: 'SYNCED', sha256: 'a'.repeat(64), filename: 'payroll 2026.csv', external_id: 'ext-9' } },
    })
    expect(event!.id).toMatch(/^evt_[0-9a-f-]{36}$/)
    const file = await findFile(deps().db, claim.id)
    expect(event!.timestamp).toBe(file!.updatedAt.toISOString())
    expect(event!.data.file.synced_at).toBe(file!.syncedAt!.toISOString())
  })

  it('writes no event when the guarded update finds the file already moved', async () => {
    const claim = await claimed()
    expect(await markSynced(deps().db, claim, 'a'.repeat(64))).toBe(true)
    expect(await markSynced(deps().db, claim, 'b'.repeat(64))).toBe(false)
    expect(await markFailed(deps().db, claim, 'SYNCING', 'SIZE_MISMATCH', 'late')).toBe(false)
    expect((await events()).map((e) => e.type)).toEqual(['file.synced'])
  })

  it('writes no event for a rolled-back transaction', async () => {
    const claim = await claimed()
    await expect(
      deps()
        .db.transaction()
        .execute(async (trx) => {
          expect(await markSynced(trx, claim, 'a'.repeat(64))).toBe(true)
          expect(await trx.selectFrom('outbox').select('id').where('event_type', '=', 'file.synced').execute()).toHaveLength(1)
          throw new Error('the caller fails after the update')
        }),
    ).rejects.toThrow('the caller fails after the update')
    expect(await events()).toEqual([])
    expect((await findFile(deps().db, claim.id))!.status).toBe('SYNCING')
  })

  it('writes file.failed and file.quarantined with their error', async () => {
    const failing = await claimed()
    const infected = await claimed()
    expect(await markFailed(deps().db, failing, 'SYNCING', 'CHECKSUM_MISMATCH', 'bad bytes')).toBe(true)
    expect(await markQuarantined(deps().db, infected, 'SYNCING', 'Eicar-Test-Signature')).toBe(true)

    const byFile = new Map((await events()).map((e) => [e.file_id, e]))
    expect(byFile.get(failing.id)).toMatchObject({
      type: 'file.failed',
      data: { file: { status: 'FAILED', error: { code: 'CHECKSUM_MISMATCH', message: 'bad bytes' } } },
    })
    expect(byFile.get(infected.id)).toMatchObject({
      type: 'file.quarantined',
      data: { file: { status: 'QUARANTINED', error: { code: 'MALWARE_DETECTED', message: 'Eicar-Test-Signature' } } },
    })
  })

  it('writes one file.expired per expired upload, each with its own id', async () => {
    const past = new Date(Date.now() - 3_600_000)
    const ids = [await fileIn('PENDING', { upload_expires_at: past }), await fileIn('PENDING', { upload_expires_at: past })]
    const live = await fileIn('PENDING')

    expect((await expireAbandoned(deps().db, 0, 10)).map((f) => f.id).sort()).toEqual([...ids].sort())
    const written = await events()
    expect(written.map((e) => e.file_id).sort()).toEqual([...ids].sort())
    expect(written.every((e) => e.type === 'file.expired' && e.data.file.status === 'EXPIRED')).toBe(true)
    expect(new Set(written.map((e) => e.id)).size).toBe(2)
    expect(written.some((e) => e.file_id === live)).toBe(false)
  })

  it('writes file.deleted once, for the owner only, without the filename', async () => {
    const id = await fileIn('SYNCED')
    expect(await markDeleted(deps().db, 'someone-else', id)).toBeUndefined()
    const before = await markDeleted(deps().db, OWNER, id)
    expect(before).toMatchObject({ id, status: 'SYNCED', objectKey: `uploads/${OWNER}/${id}` })
    expect(await markDeleted(deps().db, OWNER, id)).toBeUndefined()

    const written = await events()
    expect(written).toHaveLength(1)
    expect(written[0]).toMatchObject({ type: 'file.deleted', data: { file: { id, status: 'DELETED', filename: '', sha256: null } } })
    expect(await findFile(deps().db, id)).toMatchObject({ status: 'DELETED', filename: '', sha256: null })
  })

  it('gives every transition its own event id across concurrent finishers', async () => {
    const claims = await Promise.all(Array.from({ length: 8 }, () => claimed()))
    await Promise.all(claims.map((c) => markSynced(deps().db, c, 'c'.repeat(64))))
    await Promise.all(claims.map((c) => markDeleted(deps().db, OWNER, c.id)))
    const written = await events()
    expect(written).toHaveLength(16)
    expect(new Set(written.map((e) => e.id)).size).toBe(16)
    const count = await sql<{ n: string }>`select count(*) as n from outbox where payload->>'type' = event_type`.execute(deps().db)
    expect(Number(count.rows[0]!.n)).toBe(16)
  })
})
