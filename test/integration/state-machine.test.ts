import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { beforeEach, describe, expect, it } from 'vitest'
import { deps } from '../../functions/core/deps.js'
import type { FileRecord, FileStatus } from '../../functions/core/files.js'
import {
  claimForSync,
  expireAbandoned,
  findFile,
  insertFile,
  markDeleted,
  markFailed,
  markQuarantined,
  markSynced,
  markUploaded,
  releaseClaim,
} from '../../functions/core/files.repository.js'
import { resetState } from '../fixtures/pipeline.js'

/**
 * The state machine is the repository's guarded updates: each transition is one UPDATE whose WHERE names the
 * states it may leave. This table is what they must allow; every other state must be left untouched, and a
 * final transition writes its event only when it moves the file.
 */
const STATUSES: readonly FileStatus[] = ['PENDING', 'UPLOADED', 'SYNCING', 'SYNCED', 'FAILED', 'QUARANTINED', 'EXPIRED', 'DELETED']
const OWNER = 'state-machine-owner'

async function seed(status: FileStatus, extra: { errorCode?: string } = {}): Promise<FileRecord> {
  const { db } = deps()
  const id = randomUUID()
  await insertFile(db, {
    id,
    owner_id: OWNER,
    external_id: 'sm',
    filename: 'a.csv',
    content_type: 'text/csv',
    object_key: `uploads/state-machine/${id}`,
    declared_size: 3,
    upload_expires_at: new Date(Date.now() - 3_600_000),
  })
  await db
    .updateTable('files')
    .set({
      status,
      file_size: status === 'PENDING' ? null : 3,
      claimed_at: status === 'SYNCING' ? sql`date_trunc('milliseconds', clock_timestamp())` : null,
      error_code: extra.errorCode ?? (status === 'FAILED' ? 'SIZE_MISMATCH' : null),
    })
    .where('id', '=', id)
    .execute()
  return (await findFile(db, id))!
}

const events = async (fileId: string): Promise<string[]> =>
  (await deps().db.selectFrom('outbox').select('event_type').where('file_id', '=', fileId).execute()).map((r) => r.event_type)

interface Transition {
  name: string
  allowed: readonly FileStatus[]
  event?: string
  run(file: FileRecord): Promise<boolean>
}

const transitions: Transition[] = [
  { name: 'markUploaded', allowed: ['PENDING'], run: async (f) => !!(await markUploaded(deps().db, f.id, 3, null)) },
  // A live claim (stale only after an hour) is not retaken; a FAILED file is only retaken when redriven (below).
  { name: 'claimForSync', allowed: ['UPLOADED'], run: async (f) => !!(await claimForSync(deps().db, f.id, 3600)) },
  { name: 'markSynced', allowed: ['SYNCING'], event: 'file.synced', run: (f) => markSynced(deps().db, f, 'a'.repeat(64)) },
  {
    name: 'markFailed from SYNCING',
    allowed: ['SYNCING'],
    event: 'file.failed',
    run: (f) => markFailed(deps().db, f, 'SYNCING', 'CHECKSUM_MISMATCH', 'test'),
  },
  {
    name: 'markQuarantined from SYNCING',
    allowed: ['SYNCING'],
    event: 'file.quarantined',
    run: (f) => markQuarantined(deps().db, f, 'SYNCING', 'Eicar-Test-Signature'),
  },
  { name: 'releaseClaim', allowed: ['SYNCING'], run: (f) => releaseClaim(deps().db, f) },
  {
    name: 'expireAbandoned',
    allowed: ['PENDING'],
    event: 'file.expired',
    run: async (f) => (await expireAbandoned(deps().db, 0, 1000)).some((e) => e.id === f.id),
  },
  {
    name: 'markDeleted',
    allowed: STATUSES.filter((s) => s !== 'DELETED'),
    event: 'file.deleted',
    run: async (f) => !!(await markDeleted(deps().db, OWNER, f.id)),
  },
]

beforeEach(resetState)

describe.each(transitions)('$name', (transition) => {
  it.each(STATUSES)('from %s moves only if the table allows it, with its event', async (status) => {
    const file = await seed(status)
    const moved = await transition.run(file)
    const after = (await findFile(deps().db, file.id))!

    expect(moved).toBe(transition.allowed.includes(status))
    if (!moved) expect(after.status).toBe(status)
    expect(await events(file.id)).toEqual(moved && transition.event ? [transition.event] : [])
  })
})

describe('claims', () => {
  it('retakes a retries-exhausted failure (a DLQ redrive) but no other failure', async () => {
    const exhausted = await seed('FAILED', { errorCode: 'RETRIES_EXHAUSTED' })
    const mismatch = await seed('FAILED', { errorCode: 'SIZE_MISMATCH' })
    expect((await claimForSync(deps().db, exhausted.id, 3600))?.status).toBe('SYNCING')
    expect(await claimForSync(deps().db, mismatch.id, 3600)).toBeUndefined()
  })

  it('retakes a stale claim, and then only the new holder can finish', async () => {
    const first = await seed('SYNCING')
    await new Promise((r) => setTimeout(r, 1100))
    const second = (await claimForSync(deps().db, first.id, 1))!
    expect(second.claimedAt).not.toEqual(first.claimedAt)
    expect(await markSynced(deps().db, first, 'b'.repeat(64))).toBe(false)
    expect(await markSynced(deps().db, second, 'c'.repeat(64))).toBe(true)
    expect((await findFile(deps().db, first.id))?.sha256).toBe('c'.repeat(64))
  })
})
