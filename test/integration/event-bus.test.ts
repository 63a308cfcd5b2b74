import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startWebhookReceiver, type WebhookReceiver } from '../../bin/local/webhook-receiver.js'
import { EVENT_SOURCE } from '../../functions/core/event-bus.js'
import { deps } from '../../functions/core/deps.js'
import type { FileEvent } from '../../functions/core/events.js'
import { claimForSync, markSynced } from '../../functions/core/files.repository.js'
import { leaseFileEvents, publishFileEvents, relayOutbox } from '../../functions/core/outbox.js'
import { type BusEnvelope, type BusReadback, createBusReadback } from '../fixtures/bus-readback.js'
import { usePipeline } from '../fixtures/pipeline.js'

// No relay sweep and no sweeper: whatever arrives was published by the transition's own function.
const pipeline = usePipeline({ schedules: { RelayOutbox: 0, SweepFiles: 0 } })
const alice = pipeline.client('alice')

let bus: BusReadback
let receiver: WebhookReceiver
beforeAll(async () => {
  bus = await createBusReadback(`${process.env.QUEUE_NAME_PREFIX}-bus`)
  receiver = await startWebhookReceiver()
})
afterAll(async () => {
  await receiver.close()
  await bus.close()
})
beforeEach(async () => {
  receiver.received.length = 0
  await bus.purge()
})

const finalEvents = async (fileId?: string) => {
  let query = deps().db.selectFrom('outbox').select(['payload', 'published_at', 'attempts']).where('event_type', '<>', 'file.uploaded')
  if (fileId) query = query.where('file_id', '=', fileId)
  return (await query.orderBy('id').execute()).map((r) => ({ event: r.payload as unknown as FileEvent, publishedAt: r.published_at, attempts: r.attempts }))
}

const until = async (done: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** What a rule target receives must be the outbox's event, untouched, under our source and its type. */
function expectEnvelopeOf(envelope: BusEnvelope | undefined, event: FileEvent): void {
  expect(envelope).toBeDefined()
  expect(envelope!.source).toBe(EVENT_SOURCE)
  expect(envelope!['detail-type']).toBe(event.type)
  expect(envelope!.detail).toEqual(event)
}

describe('final-state events, published right after their commit', () => {
  it('puts file.synced and file.deleted on the bus and sends their webhooks with no relay sweep running', async () => {
    const created = await alice.request('POST', '/webhooks', { url: receiver.url })
    expect(created.status).toBe(201)
    receiver.verifyWith(created.json.secret)

    const bytes = Buffer.from('id,total\n1,9\n')
    const { post } = await alice.upload(bytes)
    expect((await alice.confirm({ file_id: post.file_id, file_size: bytes.length })).status).toBe(200)
    await until(() => receiver.received.length >= 1, 'the file.synced webhook')
    const [synced] = await finalEvents(post.file_id)
    expect(synced!.event.type).toBe('file.synced')
    expect(receiver.received[0]).toMatchObject({ id: synced!.event.id, error: undefined, status: 204 })
    expect(receiver.received[0]!.event).toEqual(synced!.event)
    expectEnvelopeOf((await bus.receiveUntil((all) => all.length >= 1))[0], synced!.event)

    expect((await alice.deleteFile(post.file_id)).status).toBe(204)
    await until(() => receiver.received.length >= 2, 'the file.deleted webhook')
    const [, deleted] = await finalEvents(post.file_id)
    expect(deleted!.event).toMatchObject({ type: 'file.deleted', data: { file: { id: post.file_id, status: 'DELETED', filename: '' } } })
    expect(receiver.received[1]).toMatchObject({ id: deleted!.event.id, error: undefined })
    expect(receiver.received[1]!.event).toEqual(deleted!.event)
    expectEnvelopeOf((await bus.receiveUntil((all) => all.length >= 1))[0], deleted!.event)

    // Published by the eager path on its first try, and each delivery made once.
    expect((await finalEvents(post.file_id)).every((e) => e.publishedAt !== null && e.attempts === 0)).toBe(true)
    const deliveries = async () => deps().db.selectFrom('webhook_deliveries').select(['event_id', 'status', 'attempts']).execute()
    // The receiver has each request before the sender's result is recorded.
    await until(async () => (await deliveries()).every((d) => d.status !== 'PENDING'), 'the delivery results')
    expect((await deliveries()).map((d) => [d.event_id, d.status, d.attempts]).sort()).toEqual(
      [[synced!.event.id, 'DELIVERED', 1], [deleted!.event.id, 'DELIVERED', 1]].sort(),
    )
  })
})

/** An UPLOADED file of 4 bytes, inserted as confirm leaves it, then claimed for hashing. */
async function claimedFile(filename = 'ledger.csv'): Promise<Awaited<ReturnType<typeof claimForSync>>> {
  const id = randomUUID()
  await deps()
    .db.insertInto('files')
    .values({
      id,
      owner_id: 'bus-test',
      external_id: 'ext-bus',
      filename,
      content_type: 'text/csv',
      object_key: `uploads/bus-test/${id}`,
      status: 'UPLOADED',
      file_size: 4,
      upload_expires_at: new Date(Date.now() + 60_000),
    })
    .execute()
  return claimForSync(deps().db, id, 60)
}

describe('an eager publish that cannot finish', () => {
  async function syncedFileId(): Promise<string> {
    const claim = await claimedFile('eager.csv')
    expect(await markSynced(deps().db, claim!, 'c'.repeat(64))).toBe(true)
    return claim!.id
  }
  const row = async (fileId: string) =>
    deps().db.selectFrom('outbox').select(['published_at', 'attempts', 'last_error']).where('file_id', '=', fileId).executeTakeFirstOrThrow()

  it('hands the event back to the sweep when the bus refuses it, and the sweep publishes it once', async () => {
    const id = await syncedFileId()
    const broken = { ...deps(), bus: { put: async () => Promise.reject(new Error('bus unreachable')) } }
    await publishFileEvents(broken, [id])
    expect(await row(id)).toMatchObject({ published_at: null, attempts: 1, last_error: expect.stringContaining('bus unreachable') })

    expect(await relayOutbox(deps().db, deps().queue, { bus: deps().bus })).toMatchObject({ published: 1, failed: 0 })
    const [event] = await finalEvents(id)
    const received = await bus.receiveUntil((all) => all.length >= 1)
    for (let i = 0; i < 2; i++) received.push(...(await bus.receive(1)))
    expect(received).toHaveLength(1)
    expectEnvelopeOf(received[0], event!.event)
  })

  it('leaves a leased event to its publisher: the sweep does not take it until the lease ends', async () => {
    const id = await syncedFileId()
    const [leased] = await leaseFileEvents(deps().db, [id], 60)
    expect(leased).toMatchObject({ fileId: id, event: { type: 'file.synced' } })
    // A second lease finds nothing due: the publisher that holds it is the only one.
    expect(await leaseFileEvents(deps().db, [id], 60)).toEqual([])
    expect(await relayOutbox(deps().db, deps().queue, { bus: deps().bus })).toMatchObject({ published: 0 })
    expect((await row(id)).published_at).toBeNull()
  })
})

describe('EventBridge read-back through a rule into a queue', () => {
  it('carries each relayed event once, as the outbox holds it, and none of a rolled-back transaction', async () => {
    const claims = await Promise.all(Array.from({ length: 12 }, () => claimedFile()))
    for (const claim of claims) expect(await markSynced(deps().db, claim!, 'e'.repeat(64))).toBe(true)
    const rolledBack = (await claimedFile())!
    await expect(
      deps()
        .db.transaction()
        .execute(async (trx) => {
          expect(await markSynced(trx, rolledBack, 'f'.repeat(64))).toBe(true)
          throw new Error('rolled back after the transition')
        }),
    ).rejects.toThrow('rolled back')

    const relayed = await relayOutbox(deps().db, deps().queue, { bus: deps().bus })
    expect(relayed).toMatchObject({ published: 12, failed: 0 })
    const written = await finalEvents()
    expect(written).toHaveLength(12)

    const received = await bus.receiveUntil((all) => all.length >= written.length)
    // Anything late (a duplicate, or the rolled-back file's event) would arrive within a few more polls.
    for (let i = 0; i < 3; i++) received.push(...(await bus.receive(1)))

    const byId = new Map<string, BusEnvelope[]>()
    for (const envelope of received) byId.set(envelope.detail.id, [...(byId.get(envelope.detail.id) ?? []), envelope])
    expect(byId.size).toBe(written.length)
    for (const { event } of written) {
      expect(byId.get(event.id), event.id).toHaveLength(1)
      expectEnvelopeOf(byId.get(event.id)![0], event)
    }
    expect(received.some((e) => e.detail.data.file.id === rolledBack.id)).toBe(false)
  })
})
