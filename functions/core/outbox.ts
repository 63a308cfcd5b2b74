import { type Kysely, sql, type Transaction } from 'kysely'
import { settleConcurrent } from './concurrency.js'
import type { Database } from './database.js'
import type { MessageQueue } from './queue.js'
import { SQS_MAX_BATCH } from './aws-limits.js'
import { type EventBus, PUT_EVENTS_MAX_ENTRIES } from './event-bus.js'
import type { FileEvent } from './events.js'
import { expandDeliveries } from './webhooks.repository.js'
import type { Deps } from './deps.js'
import { dispatchDeliveries } from './webhook-delivery.js'

export const FILE_UPLOADED = 'file.uploaded'

/** The body of a message on the files queue. */
export interface FileUploadedMessage {
  event: typeof FILE_UPLOADED
  file_id: string
  outbox_id: string
}

/** Adds a `file.uploaded` event to the outbox inside the caller's transaction. */
export async function enqueueFileUploaded(trx: Transaction<Database>, fileIds: readonly string[]): Promise<string[]> {
  return (await insertEvents(trx, fileIds, 0)).map((e) => e.id)
}

/** An outbox row the caller publishes itself (see `leaseFileUploaded` and `leaseFileEvents`). */
export interface LeasedEvent {
  id: string
  fileId: string
  /** A final-state event's payload; absent for a file.uploaded row. */
  event?: FileEvent
}

/**
 * Like `enqueueFileUploaded`, but the rows are not due until the lease ends, so the caller can
 * publish them with `publishLeased` right after its commit without claiming them again. If the
 * caller dies first, the sweep publishes them once the lease is over.
 */
export async function leaseFileUploaded(
  trx: Transaction<Database>,
  fileIds: readonly string[],
  leaseSeconds: number,
): Promise<LeasedEvent[]> {
  return insertEvents(trx, fileIds, leaseSeconds)
}

async function insertEvents(trx: Transaction<Database>, fileIds: readonly string[], leaseSeconds: number): Promise<LeasedEvent[]> {
  if (fileIds.length === 0) return []
  const rows = await trx
    .insertInto('outbox')
    .values(
      fileIds.map((fileId) => ({
        file_id: fileId,
        event_type: FILE_UPLOADED,
        payload: JSON.stringify({ file_id: fileId }),
        ...(leaseSeconds > 0 ? { next_attempt_at: sql<Date>`now() + make_interval(secs => ${leaseSeconds})` } : {}),
      })),
    )
    .returning(['id', 'file_id'])
    .execute()
  return rows.map((r) => ({ id: r.id, fileId: r.file_id }))
}

/**
 * Leases the due, unpublished final-state events of `fileIds` (file.synced, file.deleted, ...) for
 * the caller to publish with `publishLeased` right after the commit that wrote them: for the lease
 * the sweep leaves them alone, and a caller that dies before publishing leaves them to the sweep
 * once it is over. One guarded update is the claim: a row the sweep holds is waited for and then
 * found published (or backed off), so the two never both take it.
 */
export async function leaseFileEvents(db: Kysely<Database>, fileIds: readonly string[], leaseSeconds: number): Promise<LeasedEvent[]> {
  if (fileIds.length === 0) return []
  const rows = await db
    .updateTable('outbox')
    .set({ next_attempt_at: sql`now() + make_interval(secs => ${leaseSeconds})` })
    .where('file_id', 'in', [...fileIds])
    .where('event_type', '<>', FILE_UPLOADED)
    .where('published_at', 'is', null)
    .where('next_attempt_at', '<=', sql<Date>`now()`)
    .returning(['id', 'file_id', 'payload'])
    .execute()
  return rows.map((r) => ({ id: r.id, fileId: r.file_id, event: r.payload as unknown as FileEvent }))
}

export interface RelayOptions {
  /**
   * Where final-state events (file.synced, file.failed, ...) go, besides a webhook delivery per
   * subscribed endpoint. Without it the relay publishes only file.uploaded rows and leaves the
   * others for a relay that has one.
   */
  bus?: EventBus
  /** Rows claimed per transaction. */
  batchSize?: number
  /** Stop after this many rounds (the periodic sweep drains until empty by default). */
  maxRounds?: number
}

export interface RelayResult {
  published: number
  failed: number
  rounds: number
}

const backoffSeconds = (attempts: number): number => Math.min(2 ** attempts, 300)

/**
 * Rows claimed per round. A round pays a claim, an update and a commit, and waits for its slowest
 * send, so small rounds spend most of their time on that fixed cost (docs/BENCHMARKS.md, "What each
 * change bought", 2: the relay against a bare SendMessageBatch loop, before and after).
 */
const DEFAULT_ROUND_SIZE = 500
/**
 * Final-state events claimed per round: one PutEvents call. EventBridge has no idempotency key, so a relay that dies
 * between its put and its commit puts the round's events again; small rounds keep that to ten per lane (docs/RELIABILITY.md,
 * scenario 12). file.uploaded rows keep their large rounds: the hash function dedupes them for free.
 */
const FINAL_ROUND_SIZE = PUT_EVENTS_MAX_ENTRIES
/** SendMessageBatch calls in flight per relay, across its lanes. */
const SEND_CONCURRENCY = 10
/**
 * Rounds run in two lanes that claim disjoint rows (SKIP LOCKED), so one lane's claim, update and
 * commit overlap the other's sends instead of leaving the queue idle at every round boundary
 * (docs/BENCHMARKS.md, "What each change bought", 7).
 */
export const RELAY_LANES = 2

/**
 * Publishes unpublished outbox rows. Each round claims due rows with `FOR UPDATE SKIP LOCKED`
 * (so any number of relays can run at once without publishing a row twice), sends them with
 * SendMessageBatch ten messages a call and ten calls at a time (across two lanes of rounds), and in the same transaction marks the sent rows published and
 * schedules failed ones for a retry with exponential backoff. A crash after sending and before
 * commit republishes those rows: delivery is at least once and the consumer is idempotent.
 * file.uploaded rows go to the files queue; final-state events (at most ten a round: one PutEvents
 * call) go to the event bus (`options.bus`) and become one webhook delivery per subscribed endpoint,
 * recorded in the same transaction. Most final events are published by their own function right
 * after its commit (`publishFileEvents`); the relay publishes what that missed.
 */
export async function relayOutbox(db: Kysely<Database>, queue: MessageQueue, options: RelayOptions = {}): Promise<RelayResult> {
  const batchSize = options.batchSize ?? DEFAULT_ROUND_SIZE
  const maxRounds = options.maxRounds ?? Number.POSITIVE_INFINITY
  const result: RelayResult = { published: 0, failed: 0, rounds: 0 }

  let started = 0
  const lane = async (sendConcurrency: number): Promise<void> => {
    while (started < maxRounds) {
      started += 1
      const round = await db.transaction().execute(async (trx) => {
        const due = () =>
          trx
            .selectFrom('outbox')
            .select(['id', 'file_id', 'event_type', 'attempts', 'payload'])
            .where('published_at', 'is', null)
            .where('next_attempt_at', '<=', sql<Date>`now()`)
            .orderBy('id')
            .forUpdate()
            .skipLocked()
        const claimedUploads = await due().where('event_type', '=', FILE_UPLOADED).limit(batchSize).execute()
        const claimedFinal = options.bus ? await due().where('event_type', '<>', FILE_UPLOADED).limit(FINAL_ROUND_SIZE).execute() : []
        const rows = [...claimedUploads, ...claimedFinal]
        if (rows.length === 0) return undefined

        const uploaded = rows.filter((r) => r.event_type === FILE_UPLOADED)
        const final = rows.filter((r) => r.event_type !== FILE_UPLOADED).map((r) => ({ id: r.id, fileId: r.file_id, event: r.payload as unknown as FileEvent }))
        const [failures, refused] = await Promise.all([
          sendEvents(queue, uploaded.map((r) => ({ id: r.id, fileId: r.file_id })), sendConcurrency),
          options.bus && final.length ? putEvents(options.bus, final, sendConcurrency) : new Map<string, string>(),
        ])
        for (const [id, reason] of refused) failures.set(id, reason)
        // In this transaction, so the deliveries exist once the row counts as published. Also when the bus
        // refused the event: the row is retried for the bus, and its deliveries are not added twice.
        await expandDeliveries(trx, final.map(deliveryOf))
        const sent = rows.filter((r) => !failures.has(r.id)).map((r) => r.id)
        if (sent.length) {
          await trx.updateTable('outbox').set({ published_at: sql`now()`, last_error: null }).where('id', 'in', sent).execute()
        }
        for (const row of rows.filter((r) => failures.has(r.id))) {
          await trx
            .updateTable('outbox')
            .set({
              attempts: row.attempts + 1,
              last_error: failures.get(row.id)!.slice(0, 500),
              next_attempt_at: sql`now() + make_interval(secs => ${backoffSeconds(row.attempts + 1)})`,
            })
            .where('id', '=', row.id)
            .execute()
        }
        const full = claimedUploads.length === batchSize || claimedFinal.length === FINAL_ROUND_SIZE
        return { published: sent.length, failed: failures.size, full }
      })

      if (!round) return
      result.rounds += 1
      result.published += round.published
      result.failed += round.failed
      // A short round means the backlog is drained; a round of only failures means the queue is down.
      if (!round.full || round.published === 0) return
    }
  }
  await Promise.all(Array.from({ length: RELAY_LANES }, () => lane(Math.ceil(SEND_CONCURRENCY / RELAY_LANES))))
  return result
}

/** Sends the events ten to a SendMessageBatch call; returns the reason for each event that was not accepted. */
async function sendEvents(queue: MessageQueue, events: readonly LeasedEvent[], concurrency = SEND_CONCURRENCY): Promise<Map<string, string>> {
  const batches: LeasedEvent[][] = []
  for (let i = 0; i < events.length; i += SQS_MAX_BATCH) batches.push(events.slice(i, i + SQS_MAX_BATCH))
  const outcomes = await settleConcurrent(batches, concurrency, (batch) =>
    queue.sendBatch(
      batch.map((e) => ({
        id: e.id,
        body: JSON.stringify({ event: FILE_UPLOADED, file_id: e.fileId, outbox_id: e.id } satisfies FileUploadedMessage),
      })),
    ),
  )
  const failures = new Map<string, string>()
  outcomes.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') {
      for (const f of outcome.value.failed) failures.set(f.id, f.reason)
    } else {
      for (const e of batches[i]!) failures.set(e.id, String(outcome.reason))
    }
  })
  return failures
}

/**
 * Puts events on the bus ten to a call, the calls in flight at once (a relay killed mid-round puts the round again:
 * the shorter the round's puts take, the fewer of those); returns the reason for each outbox row whose event was
 * not accepted.
 */
async function putEvents(bus: EventBus, rows: readonly LeasedEvent[], concurrency = SEND_CONCURRENCY): Promise<Map<string, string>> {
  const chunks: LeasedEvent[][] = []
  for (let i = 0; i < rows.length; i += PUT_EVENTS_MAX_ENTRIES) chunks.push(rows.slice(i, i + PUT_EVENTS_MAX_ENTRIES))
  const outcomes = await settleConcurrent(chunks, concurrency, (chunk) => bus.put(chunk.map((r) => r.event!)))
  const failures = new Map<string, string>()
  outcomes.forEach((outcome, i) => {
    const chunk = chunks[i]!
    if (outcome.status === 'fulfilled') {
      const byEventId = new Map(chunk.map((r) => [r.event!.id, r.id]))
      for (const f of outcome.value.failed) failures.set(byEventId.get(f.id)!, f.reason)
    } else {
      for (const r of chunk) failures.set(r.id, String(outcome.reason))
    }
  })
  return failures
}

const deliveryOf = (row: LeasedEvent) => ({ fileId: row.fileId, eventId: row.event!.id, type: row.event!.type, payload: row.event })

/**
 * Publishes events the caller leased (`leaseFileUploaded`, `leaseFileEvents`), outside any
 * transaction: no row lock or pooled connection is held while SQS or EventBridge answers, and the
 * rows need no second claim. file.uploaded rows go to the files queue. Final-state events first
 * become one webhook delivery per subscribed endpoint (committed before the row can count as
 * published; a row published again adds none), handed to `dispatch` while the events go to the bus,
 * so a webhook does not wait for EventBridge. Sent rows are marked published; failed ones are handed
 * back to the sweep at once.
 */
export async function publishLeased(
  db: Kysely<Database>,
  queue: MessageQueue,
  events: readonly LeasedEvent[],
  options: { bus?: EventBus; dispatch?: (deliveryIds: readonly string[]) => Promise<unknown> } = {},
): Promise<RelayResult> {
  if (events.length === 0) return { published: 0, failed: 0, rounds: 0 }
  const final = events.filter((e) => e.event)
  if (final.length && !options.bus) throw new Error('final-state events need the event bus')
  const deliveries = final.length ? await expandDeliveries(db, final.map(deliveryOf)) : []
  const [failures] = await Promise.all([
    (async () => {
      const [failures, refused] = await Promise.all([sendEvents(queue, events.filter((e) => !e.event)), putEvents(options.bus!, final)])
      for (const [id, reason] of refused) failures.set(id, reason)
      return failures
    })(),
    deliveries.length ? options.dispatch?.(deliveries) : undefined,
  ])
  const sent = events.filter((e) => !failures.has(e.id)).map((e) => e.id)
  if (sent.length) {
    await db
      .updateTable('outbox')
      .set({ published_at: sql`now()`, last_error: null })
      .where('id', 'in', sent)
      .where('published_at', 'is', null)
      .execute()
  }
  if (failures.size) {
    await db
      .updateTable('outbox')
      .set({ attempts: sql`attempts + 1`, last_error: [...failures.values()][0]!.slice(0, 500), next_attempt_at: sql`now()` })
      .where('id', 'in', [...failures.keys()])
      .where('published_at', 'is', null)
      .execute()
  }
  return { published: sent.length, failed: failures.size, rounds: 1 }
}

/**
 * Publishes right after their commit the final-state events that transitions of `fileIds` wrote,
 * and hands their webhook deliveries to the sender at once, so neither waits for the relay's next
 * sweep. Never throws: whatever it could not do is left to the sweep (the outbox row, or the
 * delivery, is still due).
 */
export async function publishFileEvents(deps: Deps, fileIds: readonly string[]): Promise<void> {
  if (!deps.bus || fileIds.length === 0) return
  const failed = (what: string) => (error: unknown) =>
    deps.logger.warn(`eager ${what} failed; the relay sweep will catch up`, { file_ids: fileIds, error: String(error) })
  try {
    const events = await leaseFileEvents(deps.db, fileIds, deps.config.eagerPublishLeaseSeconds)
    await publishLeased(deps.db, deps.queue, events, {
      bus: deps.bus,
      dispatch: (ids) => dispatchDeliveries(deps, { ids }).catch(failed('webhook dispatch')),
    })
  } catch (error) {
    failed('publish of file events')(error)
  }
}

/** Deletes published rows older than the retention period. */
export async function purgePublished(db: Kysely<Database>, retentionHours: number): Promise<number> {
  const result = await db
    .deleteFrom('outbox')
    .where('published_at', '<', sql<Date>`now() - make_interval(hours => ${retentionHours})`)
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Age in seconds of the oldest unpublished row (0 when there is none): the relay's lag. */
export async function oldestUnpublishedAge(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('outbox')
    .select(sql<string>`coalesce(extract(epoch from now() - min(created_at)), 0)`.as('age'))
    .where('published_at', 'is', null)
    .executeTakeFirstOrThrow()
  return Number(row.age)
}
