import { randomUUID } from 'node:crypto'
import { DeleteQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs'
import { sql } from 'kysely'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { provision } from '../../localstack/provision.js'
import { deps } from '../../functions/core/deps.js'
import { enqueueFileUploaded, relayOutbox } from '../../functions/core/outbox.js'
import { createMessageQueue, type MessageQueue } from '../../functions/core/queue.js'
import { resetState, sqsClient } from '../fixtures/pipeline.js'

const sqs = sqsClient()
let queueUrl: string
let dlqUrl: string
let queue: MessageQueue

beforeAll(async () => {
  const name = `relay-test-${process.pid}`
  ;({ queueUrl, dlqUrl } = await provision({ env: process.env, queuePrefix: name, visibilityTimeoutSeconds: 60 }))
  queue = createMessageQueue(sqs, queueUrl)
})
afterAll(async () => {
  await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }))
  await sqs.send(new DeleteQueueCommand({ QueueUrl: dlqUrl }))
  sqs.destroy()
})
beforeEach(resetState)

async function uploadedFiles(count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID())
  await deps()
    .db.insertInto('files')
    .values(
      ids.map((id) => ({
        id,
        owner_id: 'relay-test',
        external_id: 'e',
        filename: 'f.csv',
        content_type: 'text/csv',
        object_key: `uploads/test/${id}`,
        status: 'UPLOADED' as const,
        file_size: 1,
        upload_expires_at: new Date(Date.now() + 60_000),
      })),
    )
    .execute()
  return ids
}

/** Drains the queue and returns how many times each outbox id was published. */
async function drain(): Promise<Map<string, number>> {
  const seen = new Map<string, number>()
  for (let empty = 0; empty < 2; ) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 60 }),
    )
    if (Messages.length === 0) empty++
    for (const m of Messages) {
      const { outbox_id } = JSON.parse(m.Body!) as { outbox_id: string }
      seen.set(outbox_id, (seen.get(outbox_id) ?? 0) + 1)
    }
  }
  return seen
}

describe('the outbox relay', () => {
  it('publishes every row exactly once with two relays running at once', async () => {
    const ids = await uploadedFiles(250)
    const outboxIds = await deps().db.transaction().execute((trx) => enqueueFileUploaded(trx, ids))

    const [a, b] = await Promise.all([
      relayOutbox(deps().db, queue, { batchSize: 20 }),
      relayOutbox(deps().db, queue, { batchSize: 20 }),
    ])
    expect(a.published + b.published).toBe(250)
    expect(a.published).toBeGreaterThan(0)
    expect(b.published).toBeGreaterThan(0)

    const seen = await drain()
    expect([...seen.keys()].sort()).toEqual([...outboxIds].sort())
    expect([...seen.values()].every((n) => n === 1)).toBe(true)
    const unpublished = await deps().db.selectFrom('outbox').select('id').where('published_at', 'is', null).execute()
    expect(unpublished).toEqual([])
  })

  it('still publishes a row committed after higher ids were published', async () => {
    const [early, late] = await uploadedFiles(2)
    // Take an id, then let a later transaction commit and publish first.
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    const slow = deps().db.transaction().execute(async (trx) => {
      const [id] = await enqueueFileUploaded(trx, [early!])
      await held
      return id!
    })
    await new Promise((r) => setTimeout(r, 100))
    const [fastId] = await deps().db.transaction().execute((trx) => enqueueFileUploaded(trx, [late!]))
    expect((await relayOutbox(deps().db, queue)).published).toBe(1)

    release()
    const slowId = await slow
    expect(BigInt(slowId)).toBeLessThan(BigInt(fastId!))
    expect((await relayOutbox(deps().db, queue)).published).toBe(1)
    expect([...(await drain()).keys()].sort()).toEqual([slowId, fastId].sort())
  })

  it('keeps a row it could not send and retries it after a backoff', async () => {
    const [id] = await uploadedFiles(1)
    await deps().db.transaction().execute((trx) => enqueueFileUploaded(trx, [id!]))
    const broken = createMessageQueue(sqs, `${queueUrl}-does-not-exist`)

    expect(await relayOutbox(deps().db, broken)).toEqual({ published: 0, failed: 1, rounds: 1 })
    const row = await deps().db.selectFrom('outbox').selectAll().executeTakeFirstOrThrow()
    expect(row).toMatchObject({ published_at: null, attempts: 1 })
    expect(row.next_attempt_at.getTime()).toBeGreaterThan(Date.now())

    // Not due yet: a sweep leaves it alone; once due, the next sweep publishes it.
    expect((await relayOutbox(deps().db, queue)).published).toBe(0)
    await sql`update outbox set next_attempt_at = now()`.execute(deps().db)
    expect((await relayOutbox(deps().db, queue)).published).toBe(1)
  })

  it('purges published rows after the retention period', async () => {
    const { purgePublished } = await import('../../functions/core/outbox.js')
    const ids = await uploadedFiles(3)
    await deps().db.transaction().execute((trx) => enqueueFileUploaded(trx, ids))
    await relayOutbox(deps().db, queue)
    await sql`update outbox set published_at = now() - interval '4 days' where id = (select min(id) from outbox)`.execute(deps().db)
    expect(await purgePublished(deps().db, 72)).toBe(1)
    expect(await deps().db.selectFrom('outbox').select('id').execute()).toHaveLength(2)
  })
})
