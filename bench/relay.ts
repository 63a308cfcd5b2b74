/**
 * 4. Relay: outbox rows published per second by relayOutbox over pre-inserted rows, against a raw
 * SendMessageBatch loop of the same messages to the same queue at the relay's own concurrency.
 */
import { randomUUID } from 'node:crypto'
import { PurgeQueueCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../functions/core/database.js'
import { FILE_UPLOADED, relayOutbox } from '../functions/core/outbox.js'
import { createMessageQueue, SQS_MAX_BATCH } from '../functions/core/queue.js'
import { fmt, mapConcurrent, ratio, table, verdict, type Section } from './stats.js'

export interface RelayOptions {
  db: Kysely<Database>
  sqs: SQSClient
  queueUrl: string
  rows: number
  reps: number
  log: (line: string) => void
}

const GOAL = 0.8
const RELAY_OWNER = 'bench-relay'

async function insertRows(db: Kysely<Database>, n: number): Promise<void> {
  await sql`truncate table outbox`.execute(db)
  await db.deleteFrom('files').where('owner_id', '=', RELAY_OWNER).execute()
  for (let i = 0; i < n; i += 1000) {
    const ids = Array.from({ length: Math.min(1000, n - i) }, () => randomUUID())
    await db
      .insertInto('files')
      .values(
        ids.map((id) => ({
          id,
          owner_id: RELAY_OWNER,
          external_id: 'bench-relay',
          filename: 'relay.csv',
          content_type: 'text/csv',
          object_key: `bench/relay/${id}`,
          status: 'UPLOADED' as const,
          file_size: 1,
          upload_expires_at: new Date(),
        })),
      )
      .execute()
    await db
      .insertInto('outbox')
      .values(ids.map((fileId) => ({ file_id: fileId, event_type: FILE_UPLOADED, payload: JSON.stringify({ file_id: fileId }) })))
      .execute()
  }
}

/** The relay's own fan-out: one round sends its 100 rows as 10 concurrent batches of 10. */
async function rawLoop(sqs: SQSClient, queueUrl: string, n: number, concurrency: number): Promise<number> {
  const batches = Array.from({ length: Math.ceil(n / SQS_MAX_BATCH) }, (_, b) =>
    Array.from({ length: Math.min(SQS_MAX_BATCH, n - b * SQS_MAX_BATCH) }, (_, i) => {
      const id = String(b * SQS_MAX_BATCH + i)
      return { Id: id, MessageBody: JSON.stringify({ event: FILE_UPLOADED, file_id: randomUUID(), outbox_id: id }) }
    }),
  )
  const started = performance.now()
  await mapConcurrent(batches, concurrency, async (entries) => {
    const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }))
    if (result.Failed?.length) throw new Error(`raw send failed: ${result.Failed[0]?.Message}`)
  })
  return n / ((performance.now() - started) / 1000)
}

export async function benchRelay(options: RelayOptions): Promise<Section & { ok: boolean }> {
  const { db, sqs, queueUrl, rows, reps, log } = options
  const queue = createMessageQueue(sqs, queueUrl)
  const relayRates: number[] = []
  const rawRates: number[] = []
  const purge = () => sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined)

  for (let i = 0; i < reps; i++) {
    await insertRows(db, rows)
    const started = performance.now()
    const result = await relayOutbox(db, queue)
    const rate = result.published / ((performance.now() - started) / 1000)
    if (result.published !== rows) throw new Error(`relay published ${result.published} of ${rows}`)
    relayRates.push(rate)
    await purge()
    rawRates.push(await rawLoop(sqs, queueUrl, rows, SQS_MAX_BATCH))
    await purge()
    await db.deleteFrom('files').where('owner_id', '=', RELAY_OWNER).execute()
    log(`relay: run ${i + 1}: relay ${fmt(rate, 0)} rows/s, raw ${fmt(rawRates.at(-1)!, 0)} msgs/s`)
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!
  const relay = median(relayRates)
  const raw = median(rawRates)
  // Each relay run is paired with the raw run right after it, under the same load of the shared machine.
  const pairRatio = median(relayRates.map((r, i) => r / rawRates[i]!))
  const ok = pairRatio >= GOAL
  const body = [
    table(
      ['figure', 'relayOutbox', 'raw SendMessageBatch loop', 'ratio'],
      [
        ['rows (messages) published / s, median', `**${fmt(relay, 0)}**`, fmt(raw, 0), ratio(relay, raw)],
        ['runs (each relay run paired with the raw run after it)', relayRates.map((r) => fmt(r, 0)).join(' / '), rawRates.map((r) => fmt(r, 0)).join(' / '), relayRates.map((r, i) => fmt(r / rawRates[i]!, 2)).join(' / ')],
        ['**median of the paired ratios**', '', '', `**${fmt(pairRatio, 2)}x**`],
      ],
    ),
    '',
    `${rows} pre-inserted outbox rows drained by one \`relayOutbox(db, queue)\` call (claim with FOR UPDATE SKIP LOCKED, ` +
      `SendMessageBatch, mark published, one transaction per round) against the same number of messages sent by a bare loop of ` +
      `SendMessageBatch (10 per batch, ${SQS_MAX_BATCH} batches in flight, the product's SQS client) to the same queue, ` +
      `${reps} alternating pairs of runs. Goal: median paired ratio >= ${GOAL} — ${verdict(ok)}.`,
  ].join('\n')
  return { title: '4. Relay: outbox -> SQS', body, ok }
}
