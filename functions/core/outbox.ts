import { type Kysely, sql, type Transaction } from 'kysely'
import type { Database } from './database.js'
import type { MessageQueue } from './queue.js'
import { SQS_MAX_BATCH } from './queue.js'

export const FILE_UPLOADED = 'file.uploaded'

/** The body of a message on the files queue. */
export interface FileUploadedMessage {
  event: typeof FILE_UPLOADED
  file_id: string
  outbox_id: string
}

/** Adds a `file.uploaded` event to the outbox inside the caller's transaction. */
export async function enqueueFileUploaded(trx: Transaction<Database>, fileIds: readonly string[]): Promise<string[]> {
  if (fileIds.length === 0) return []
  const rows = await trx
    .insertInto('outbox')
    .values(fileIds.map((fileId) => ({ file_id: fileId, event_type: FILE_UPLOADED, payload: JSON.stringify({ file_id: fileId }) })))
    .returning('id')
    .execute()
  return rows.map((r) => r.id)
}

export interface RelayOptions {
  /** Rows claimed per transaction. */
  batchSize?: number
  /** Only these rows (the eager publish right after a confirm). */
  ids?: readonly string[]
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
 * Publishes unpublished outbox rows. Each round claims due rows with `FOR UPDATE SKIP LOCKED`
 * (so any number of relays can run at once without publishing a row twice), sends them with
 * SendMessageBatch ten at a time, and in the same transaction marks the sent rows published and
 * schedules failed ones for a retry with exponential backoff. A crash after sending and before
 * commit republishes those rows: delivery is at least once and the consumer is idempotent.
 */
export async function relayOutbox(db: Kysely<Database>, queue: MessageQueue, options: RelayOptions = {}): Promise<RelayResult> {
  const batchSize = options.batchSize ?? 100
  const maxRounds = options.maxRounds ?? Number.POSITIVE_INFINITY
  const result: RelayResult = { published: 0, failed: 0, rounds: 0 }
  if (options.ids?.length === 0) return result

  while (result.rounds < maxRounds) {
    const round = await db.transaction().execute(async (trx) => {
      let claim = trx
        .selectFrom('outbox')
        .select(['id', 'file_id', 'event_type', 'attempts'])
        .where('published_at', 'is', null)
        .orderBy('id')
        .limit(batchSize)
        .forUpdate()
        .skipLocked()
      claim = options.ids
        ? claim.where('id', 'in', options.ids)
        : claim.where('next_attempt_at', '<=', sql<Date>`now()`)
      const rows = await claim.execute()
      if (rows.length === 0) return undefined

      const batches: (typeof rows)[] = []
      for (let i = 0; i < rows.length; i += SQS_MAX_BATCH) batches.push(rows.slice(i, i + SQS_MAX_BATCH))
      const outcomes = await Promise.allSettled(
        batches.map((batch) =>
          queue.sendBatch(
            batch.map((row) => ({
              id: row.id,
              body: JSON.stringify({ event: FILE_UPLOADED, file_id: row.file_id, outbox_id: row.id } satisfies FileUploadedMessage),
            })),
          ),
        ),
      )

      const failures = new Map<string, string>()
      outcomes.forEach((outcome, i) => {
        if (outcome.status === 'fulfilled') {
          for (const f of outcome.value.failed) failures.set(f.id, f.reason)
        } else {
          for (const row of batches[i]!) failures.set(row.id, String(outcome.reason))
        }
      })

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
      return { published: sent.length, failed: failures.size, claimed: rows.length }
    })

    if (!round) break
    result.rounds += 1
    result.published += round.published
    result.failed += round.failed
    // A short round means the backlog is drained; a round of only failures means the queue is down.
    if (round.claimed < batchSize || round.published === 0) break
  }
  return result
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
