import { type Kysely, sql, type Transaction } from 'kysely'
import type { Database } from './database.js'
import type { FileEventType } from './events.js'
import { type AttemptResult, outcomeOf, retryDelaySeconds } from './webhooks.js'

type Db = Kysely<Database> | Transaction<Database>

export interface Webhook {
  id: string
  ownerId: string
  url: string
  events: FileEventType[] | null
  description: string | null
  createdAt: Date
  disabledAt: Date | null
  disabledReason: string | null
}

const columns = ['id', 'owner_id', 'url', 'events', 'description', 'created_at', 'disabled_at', 'disabled_reason'] as const

const toWebhook = (row: {
  id: string
  owner_id: string
  url: string
  events: string[] | null
  description: string | null
  created_at: Date
  disabled_at: Date | null
  disabled_reason: string | null
}): Webhook => ({
  id: row.id,
  ownerId: row.owner_id,
  url: row.url,
  events: row.events as FileEventType[] | null,
  description: row.description,
  createdAt: row.created_at,
  disabledAt: row.disabled_at,
  disabledReason: row.disabled_reason,
})

export async function insertWebhook(
  db: Db,
  input: { id: string; ownerId: string; url: string; events: readonly FileEventType[] | null; description: string | null; secret: string },
): Promise<Webhook> {
  const row = await db
    .insertInto('webhooks')
    .values({
      id: input.id,
      owner_id: input.ownerId,
      url: input.url,
      events: input.events ? [...input.events] : null,
      description: input.description,
      secret: input.secret,
    })
    .returning(columns)
    .executeTakeFirstOrThrow()
  return toWebhook(row)
}

export async function listWebhooks(db: Db, ownerId: string): Promise<Webhook[]> {
  const rows = await db
    .selectFrom('webhooks')
    .select(columns)
    .where('owner_id', '=', ownerId)
    .where('deleted_at', 'is', null)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute()
  return rows.map(toWebhook)
}

/** Owner-scoped: another owner's endpoint, or a deleted one, is not found. */
export async function findOwnedWebhook(db: Db, ownerId: string, id: string): Promise<Webhook | undefined> {
  const row = await db
    .selectFrom('webhooks')
    .select(columns)
    .where('id', '=', id)
    .where('owner_id', '=', ownerId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()
  return row && toWebhook(row)
}

/** Soft delete: the delivery log stays for the owner's records until the row is purged; deliveries stop. */
export async function deleteWebhook(db: Db, ownerId: string, id: string): Promise<boolean> {
  const result = await db
    .updateTable('webhooks')
    .set({ deleted_at: sql`now()`, secret: '', previous_secret: null })
    .where('id', '=', id)
    .where('owner_id', '=', ownerId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()
  return result.numUpdatedRows === 1n
}

/** The old secret keeps signing beside `secret` for `graceSeconds`. */
export async function rotateWebhookSecret(db: Db, ownerId: string, id: string, secret: string, graceSeconds: number): Promise<Webhook | undefined> {
  const row = await db
    .updateTable('webhooks')
    .set({
      previous_secret: sql`secret`,
      previous_secret_expires_at: sql`now() + make_interval(secs => ${graceSeconds})`,
      secret,
    })
    .where('id', '=', id)
    .where('owner_id', '=', ownerId)
    .where('deleted_at', 'is', null)
    .returning(columns)
    .executeTakeFirst()
  return row && toWebhook(row)
}

/**
 * Re-enables the owner's endpoint after failures or a 410 disabled it: deliveries resume with the next event.
 * Enabling an enabled endpoint changes nothing. Undefined when the owner has no such endpoint.
 */
export async function enableWebhook(db: Db, ownerId: string, id: string): Promise<Webhook | undefined> {
  const row = await db
    .updateTable('webhooks')
    .set({ disabled_at: null, disabled_reason: null })
    .where('id', '=', id)
    .where('owner_id', '=', ownerId)
    .where('deleted_at', 'is', null)
    .returning(columns)
    .executeTakeFirst()
  return row && toWebhook(row)
}

export interface DeliveryAttempt {
  event_id: string
  type: string
  attempt: number
  status_code: number | null
  error: string | null
  at: string
}

/** The endpoint's delivery log, newest attempt first. */
export async function listAttempts(db: Db, webhookId: string, limit: number): Promise<DeliveryAttempt[]> {
  const rows = await db
    .selectFrom('webhook_attempts as a')
    .innerJoin('webhook_deliveries as d', 'd.id', 'a.delivery_id')
    .select(['d.event_id', 'd.event_type', 'a.attempt', 'a.status_code', 'a.error', 'a.at'])
    .where('d.webhook_id', '=', webhookId)
    .orderBy('a.at', 'desc')
    .orderBy('a.id', 'desc')
    .limit(limit)
    .execute()
  return rows.map((r) => ({
    event_id: r.event_id,
    type: r.event_type,
    attempt: r.attempt,
    status_code: r.status_code,
    error: r.error,
    at: r.at.toISOString(),
  }))
}

/**
 * One delivery per (subscribed, enabled) endpoint of each event's file owner, in one statement (in the
 * relay's transaction, or on its own before an eager publish). The unique (endpoint, event) pair makes a relayed-again row add nothing. Returns the
 * ids of the deliveries it added.
 */
export async function expandDeliveries(db: Db, events: readonly { fileId: string; eventId: string; type: string; payload: unknown }[]): Promise<string[]> {
  if (events.length === 0) return []
  const result = await sql<{ id: string }>`
    insert into webhook_deliveries (webhook_id, event_id, event_type, payload)
    select w.id, e.event_id, e.event_type, e.payload::jsonb
    from unnest(${events.map((e) => e.fileId)}::uuid[], ${events.map((e) => e.eventId)}::text[],
                ${events.map((e) => e.type)}::text[], ${events.map((e) => JSON.stringify(e.payload))}::text[])
      as e(file_id, event_id, event_type, payload)
    join files f on f.id = e.file_id
    join webhooks w on w.owner_id = f.owner_id
    where w.deleted_at is null and w.disabled_at is null and (w.events is null or e.event_type = any(w.events))
    on conflict (webhook_id, event_id) do nothing
    returning id`.execute(db)
  return result.rows.map((r) => r.id)
}

export interface ClaimedDelivery {
  id: string
  webhookId: string
  attempt: number
  eventId: string
  eventType: FileEventType
  payload: unknown
  url: string
  secrets: string[]
}

/**
 * Claims due deliveries (or the given ones) for an attempt: the attempt counter goes up and the
 * delivery is not due again until `leaseSeconds` after `delaySeconds`, so the periodic dispatch
 * does not send it twice while its attempt is in flight; if the attempt's result is lost, the
 * lease runs out and it is sent again. Deliveries of endpoints disabled or deleted meanwhile fail.
 */
export async function claimDeliveries(
  db: Kysely<Database>,
  options: { ids?: readonly string[]; limit: number; delaySeconds: number; leaseSeconds: number },
): Promise<ClaimedDelivery[]> {
  return db.transaction().execute(async (trx) => {
    let due = trx
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', '=', 'PENDING')
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(options.limit)
      .forUpdate()
      .skipLocked()
    // Given ids are due up to the delay they are queued with: one another dispatcher claimed meanwhile is
    // leased far beyond it, so it is not sent twice.
    due = options.ids
      ? due.where('id', 'in', [...options.ids]).where('next_attempt_at', '<=', sql<Date>`now() + make_interval(secs => ${options.delaySeconds})`)
      : due.where('next_attempt_at', '<=', sql<Date>`now()`)
    const ids = (await due.execute()).map((r) => r.id)
    if (ids.length === 0) return []

    const rows = await trx
      .updateTable('webhook_deliveries as d')
      .from('webhooks as w')
      .set({
        attempts: sql`d.attempts + 1`,
        next_attempt_at: sql`now() + make_interval(secs => ${options.delaySeconds + options.leaseSeconds})`,
      })
      .whereRef('w.id', '=', 'd.webhook_id')
      .where('d.id', 'in', ids)
      .returning([
        'd.id',
        'd.webhook_id',
        'd.attempts',
        'd.event_id',
        'd.event_type',
        'd.payload',
        'w.url',
        'w.secret',
        'w.previous_secret',
        sql<boolean>`w.previous_secret_expires_at > now()`.as('previous_valid'),
        sql<boolean>`w.disabled_at is not null or w.deleted_at is not null`.as('stopped'),
      ])
      .execute()

    const stopped = rows.filter((r) => r.stopped).map((r) => r.id)
    if (stopped.length) {
      await trx.updateTable('webhook_deliveries').set({ status: 'FAILED', finished_at: sql`now()` }).where('id', 'in', stopped).execute()
    }
    return rows
      .filter((r) => !r.stopped)
      .map((r) => ({
        id: r.id,
        webhookId: r.webhook_id,
        attempt: r.attempts,
        eventId: r.event_id,
        eventType: r.event_type as FileEventType,
        payload: r.payload,
        url: r.url,
        secrets: [r.secret, ...(r.previous_valid && r.previous_secret ? [r.previous_secret] : [])],
      }))
  })
}

/** Makes claimed deliveries whose message could not be queued due again at once. */
export async function releaseDeliveries(db: Db, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return
  await db.updateTable('webhook_deliveries').set({ next_attempt_at: sql`now()` }).where('id', 'in', [...ids]).where('status', '=', 'PENDING').execute()
}

export type RecordedOutcome =
  | { kind: 'duplicate' | 'stale' | 'delivered' }
  | { kind: 'retry'; delaySeconds: number }
  | { kind: 'disabled'; reason: string }

/**
 * Logs one attempt and moves its delivery on: delivered; retried after the schedule's next delay;
 * or, on 410 Gone or when the schedule has run out, failed with its endpoint disabled (and the
 * reason recorded). A result reported twice, or for an attempt a later one superseded, is only logged.
 */
export async function recordAttempt(db: Kysely<Database>, result: AttemptResult, schedule: readonly number[]): Promise<RecordedOutcome> {
  return db.transaction().execute(async (trx) => {
    const logged = await trx
      .insertInto('webhook_attempts')
      .values({ delivery_id: result.delivery_id, attempt: result.attempt, status_code: result.status_code, error: result.error, at: result.at })
      .onConflict((oc) => oc.columns(['delivery_id', 'attempt']).doNothing())
      .returning('id')
      .executeTakeFirst()
    if (!logged) return { kind: 'duplicate' }

    const delivery = await trx
      .selectFrom('webhook_deliveries')
      .select(['id', 'webhook_id', 'attempts', 'created_at'])
      .where('id', '=', result.delivery_id)
      .where('status', '=', 'PENDING')
      .forUpdate()
      .executeTakeFirst()
    if (!delivery || delivery.attempts !== result.attempt) return { kind: 'stale' }

    const outcome = outcomeOf(result)
    if (outcome === 'delivered') {
      await trx.updateTable('webhook_deliveries').set({ status: 'DELIVERED', finished_at: sql`now()` }).where('id', '=', delivery.id).execute()
      return { kind: 'delivered' }
    }
    const delay = outcome === 'retry' ? retryDelaySeconds(schedule, result.attempt) : undefined
    if (delay !== undefined) {
      await trx
        .updateTable('webhook_deliveries')
        .set({ next_attempt_at: sql`now() + make_interval(secs => ${delay})` })
        .where('id', '=', delivery.id)
        .execute()
      return { kind: 'retry', delaySeconds: delay }
    }
    const reason =
      outcome === 'gone'
        ? 'the endpoint answered 410 Gone'
        : `deliveries failing since ${delivery.created_at.toISOString()}: ${result.attempt} attempts, the last ${result.error ?? `HTTP ${result.status_code}`}`.slice(0, 500)
    await trx.updateTable('webhook_deliveries').set({ status: 'FAILED', finished_at: sql`now()` }).where('id', '=', delivery.id).execute()
    await trx
      .updateTable('webhooks')
      .set({ disabled_at: sql`now()`, disabled_reason: reason })
      .where('id', '=', delivery.webhook_id)
      .where('disabled_at', 'is', null)
      .execute()
    // The endpoint's other pending deliveries stop with it.
    await trx
      .updateTable('webhook_deliveries')
      .set({ status: 'FAILED', finished_at: sql`now()` })
      .where('webhook_id', '=', delivery.webhook_id)
      .where('status', '=', 'PENDING')
      .execute()
    return { kind: 'disabled', reason }
  })
}
