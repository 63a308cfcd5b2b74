/**
 * 2. End to end: small CSV files through the local runtime's HTTP API (presign -> POST to storage ->
 * confirm), then the relay, SQS, the hash consumer and Redis up to SYNCED, against the bare storage
 * upload of the same files (presigned POST only, signed in advance, no API).
 */
import { randomUUID } from 'node:crypto'
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { DeleteMessageBatchCommand, PurgeQueueCommand, ReceiveMessageCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs'
import type { Kysely } from 'kysely'
import type { Database } from '../functions/core/database.js'
import type { ObjectStore } from '../functions/core/storage.js'
import { objectKeyFor, uploadPolicy } from '../functions/core/rules.js'
import { ApiClient, postToStorage } from '../test/fixtures/pipeline.js'
import { fmt, mapConcurrent, ratio, summarize, table, verdict, type Section } from './stats.js'

export interface E2eOptions {
  url: string
  token: string
  owner: string
  db: Kysely<Database>
  storage: ObjectStore
  s3: S3Client
  sqs: SQSClient
  bucket: string
  /** A queue nobody consumes, for the request-mix baseline. */
  scratchQueueUrl: string
  files: number
  concurrency: number
  log: (line: string) => void
}

/** A small CSV, 1-3 KB, different for every index. */
export function csvFile(index: number): Buffer {
  const rows = ['id,name,amount,created_at']
  for (let r = 0; r < 20 + (index % 40); r++) {
    rows.push(`${index * 1000 + r},customer-${(index * 7919 + r) % 100000},${((index + 1) * (r + 3) * 13.37).toFixed(2)},2026-11-${String((r % 28) + 1).padStart(2, '0')}`)
  }
  return Buffer.from(`${rows.join('\n')}\n`)
}

const UNLOADED_FILES = 40

const wallMs = () => performance.timeOrigin + performance.now()

export interface Sent {
  fileId: string
  confirmSentAt: number
  confirmAnsweredAt: number
  confirmMs: number
  presignMs: number
  uploadMs: number
}

export async function uploadThroughApi(api: ApiClient, index: number): Promise<Sent> {
  const bytes = csvFile(index)
  const t0 = performance.now()
  const presign = await api.presign({ filename: `bench-${index}.csv`, external_id: `bench-e2e`, content_type: 'text/csv', file_size: bytes.length })
  if (presign.status !== 201) throw new Error(`presign: ${presign.status} ${presign.text}`)
  const t1 = performance.now()
  const stored = await postToStorage(presign.json, bytes, { filename: `bench-${index}.csv` })
  if (stored.status !== 204 && stored.status !== 201) throw new Error(`upload: ${stored.status} ${stored.body}`)
  const t2 = performance.now()
  const confirmSentAt = wallMs()
  const confirm = await api.confirm({ file_id: presign.json.file_id, file_size: bytes.length })
  if (confirm.status !== 200) throw new Error(`confirm: ${confirm.status} ${confirm.text}`)
  return { fileId: presign.json.file_id, confirmSentAt, confirmAnsweredAt: wallMs(), confirmMs: performance.now() - t2, presignMs: t1 - t0, uploadMs: t2 - t1 }
}

interface Finished {
  claimedAt: number
  syncedAt: number
}

async function waitForSynced(db: Kysely<Database>, ids: readonly string[], timeoutMs: number): Promise<Map<string, Finished>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const rows = await db.selectFrom('files').select(['id', 'status', 'claimed_at', 'synced_at']).where('id', 'in', ids).execute()
    const done = rows.filter((r) => r.status === 'SYNCED' || r.status === 'FAILED')
    if (done.length === ids.length) {
      const failed = done.filter((r) => r.status !== 'SYNCED')
      if (failed.length) throw new Error(`${failed.length} files FAILED`)
      return new Map(rows.map((r) => [r.id, { claimedAt: r.claimed_at!.getTime(), syncedAt: r.synced_at!.getTime() }]))
    }
    if (Date.now() > deadline) throw new Error(`only ${done.length} of ${ids.length} files finished within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** The bench's files with their POST policies signed beforehand, so only storage is timed. */
function signedPosts({ storage, files, owner }: E2eOptions) {
  return Promise.all(
    Array.from({ length: files }, async (_, i) => {
      const bytes = csvFile(i)
      const fileId = randomUUID()
      const key = objectKeyFor(owner, fileId)
      const post = await storage.presignPost(
        uploadPolicy({ key, fileId, contentType: 'text/csv', declaredSize: bytes.length, maxFileSize: bytes.length }),
        900,
      )
      return { post: { upload_url: post.url, form_fields: post.fields }, bytes, key }
    }),
  )
}

/** The upload rate storage allows by itself: the same files, POSTed with policies signed beforehand. */
async function bareStorage(options: E2eOptions): Promise<{ filesPerSecond: number; ms: number[] }> {
  const { files, concurrency } = options
  const posts = await signedPosts(options)
  const ms: number[] = []
  const started = performance.now()
  await mapConcurrent(posts, concurrency, async ({ post, bytes }, i) => {
    const t = performance.now()
    const stored = await postToStorage(post, bytes, { filename: `bench-${i}.csv` })
    if (stored.status !== 204 && stored.status !== 201) throw new Error(`bare upload: ${stored.status} ${stored.body}`)
    ms.push(performance.now() - t)
  })
  return { filesPerSecond: files / ((performance.now() - started) / 1000), ms }
}

/**
 * The same storage and queue requests the pipeline makes per file, made directly with no API,
 * database, Redis or handler: POST, HeadObject (confirm), SendMessageBatch (eager publish),
 * ReceiveMessage + DeleteMessageBatch (the poller), GetObject (hash). What LocalStack itself allows.
 */
async function requestMix(options: E2eOptions): Promise<{ filesPerSecond: number; afterUpload: number[] }> {
  const { files, concurrency, s3, sqs, scratchQueueUrl, bucket } = options
  const posts = await signedPosts(options)
  const afterUpload: number[] = []
  const started = performance.now()
  await mapConcurrent(posts, concurrency, async ({ post, bytes, key }, i) => {
    const stored = await postToStorage(post, bytes, { filename: `bench-${i}.csv` })
    if (stored.status !== 204 && stored.status !== 201) throw new Error(`request mix upload: ${stored.status}`)
    const t = performance.now()
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: scratchQueueUrl, Entries: [{ Id: '0', MessageBody: key }] }))
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: scratchQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }))
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    await object.Body!.transformToByteArray()
    if (received.Messages?.length) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: scratchQueueUrl,
          Entries: received.Messages.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
        }),
      )
    }
    afterUpload.push(performance.now() - t)
  })
  const filesPerSecond = files / ((performance.now() - started) / 1000)
  await sqs.send(new PurgeQueueCommand({ QueueUrl: scratchQueueUrl })).catch(() => undefined)
  return { filesPerSecond, afterUpload }
}

export async function benchEndToEnd(options: E2eOptions): Promise<Section & { ok: boolean }> {
  const { url, token, db, files, concurrency, log } = options
  const api = new ApiClient(url, token)

  // Warm-up: loads every handler module and opens pools, as the first invocations of a deploy would.
  const warm = await mapConcurrent(Array.from({ length: concurrency }, (_, i) => 100_000 + i), concurrency, (i) => uploadThroughApi(api, i))
  await waitForSynced(db, warm.map((w) => w.fileId), 60_000)

  const bare = await bareStorage(options)
  const mix = await requestMix(options)
  const mixLatency = summarize(mix.afterUpload)
  log(`e2e: bare storage ${fmt(bare.filesPerSecond)} files/s, the pipeline's storage+queue request mix ${fmt(mix.filesPerSecond)} files/s`)

  const started = wallMs()
  const sent = await mapConcurrent(Array.from({ length: files }, (_, i) => i), concurrency, (i) => uploadThroughApi(api, i))
  const clientDone = wallMs()
  const synced = await waitForSynced(db, sent.map((s) => s.fileId), 120_000)
  const lastSynced = Math.max(...[...synced.values()].map((d) => d.syncedAt))
  const seconds = (lastSynced - started) / 1000
  const filesPerSecond = files / seconds
  const latency = summarize(sent.map((s) => synced.get(s.fileId)!.syncedAt - s.confirmSentAt))
  const delivery = summarize(sent.map((s) => synced.get(s.fileId)!.claimedAt - s.confirmAnsweredAt))
  const hashing = summarize(sent.map((s) => synced.get(s.fileId)!.syncedAt - synced.get(s.fileId)!.claimedAt))
  const confirm = summarize(sent.map((s) => s.confirmMs))
  const presign = summarize(sent.map((s) => s.presignMs))
  const upload = summarize(sent.map((s) => s.uploadMs))
  const bareUpload = summarize(bare.ms)
  // The same path one file at a time: the pipeline's own latency, with no queueing behind other files.
  const alone = await mapConcurrent(Array.from({ length: UNLOADED_FILES }, (_, i) => 300_000 + i), 1, async (i) => {
    const s = await uploadThroughApi(api, i)
    const done = await waitForSynced(db, [s.fileId], 30_000)
    return { ...s, ...done.get(s.fileId)! }
  })
  const unloaded = summarize(alone.map((s) => s.syncedAt - s.confirmSentAt))
  const unloadedConfirm = summarize(alone.map((s) => s.confirmMs))
  const unloadedHash = summarize(alone.map((s) => s.syncedAt - s.claimedAt))
  log(`e2e: ${fmt(filesPerSecond)} files/s; confirm->SYNCED p50 ${fmt(latency.p50, 0)} ms p95 ${fmt(latency.p95, 0)} ms p99 ${fmt(latency.p99, 0)} ms; one at a time p50 ${fmt(unloaded.p50, 0)} ms`)

  const ok = latency.p50 <= 100 && latency.p99 <= 500
  const body = [
    table(
      ['figure', 'pipeline (API + storage + hash)', 'bare storage POST', 'ratio'],
      [
        ['files/s (first presign -> last SYNCED)', `**${fmt(filesPerSecond)}**`, fmt(bare.filesPerSecond), `**${ratio(filesPerSecond, bare.filesPerSecond)}**`],
        ['files/s against the storage + queue request mix alone', `**${fmt(filesPerSecond)}**`, `${fmt(mix.filesPerSecond)} (request mix)`, `**${ratio(filesPerSecond, mix.filesPerSecond)}**`],
        ['files/s (client side: all confirms answered)', fmt(files / ((clientDone - started) / 1000)), fmt(bare.filesPerSecond), ratio(files / ((clientDone - started) / 1000), bare.filesPerSecond)],
        ['storage POST p50 / p99 (ms)', `${fmt(upload.p50)} / ${fmt(upload.p99)}`, `${fmt(bareUpload.p50)} / ${fmt(bareUpload.p99)}`, ratio(upload.p50, bareUpload.p50)],
      ],
    ),
    '',
    table(
      ['latency (ms)', 'p50', 'p95', 'p99', 'max'],
      [
        ['**confirm sent -> SYNCED**', `**${fmt(latency.p50)}**`, fmt(latency.p95), `**${fmt(latency.p99)}**`, fmt(latency.max)],
        ['(baseline) request mix: HeadObject -> ... -> DeleteMessageBatch per file, same concurrency', fmt(mixLatency.p50), fmt(mixLatency.p95), fmt(mixLatency.p99), fmt(mixLatency.max)],
        ['presign request', fmt(presign.p50), fmt(presign.p95), fmt(presign.p99), fmt(presign.max)],
        [`(floor) confirm sent -> SYNCED, one file at a time (${UNLOADED_FILES} files)`, fmt(unloaded.p50), fmt(unloaded.p95), fmt(unloaded.p99), fmt(unloaded.max)],
        ['(floor) ... of which: confirm request', fmt(unloadedConfirm.p50), fmt(unloadedConfirm.p95), fmt(unloadedConfirm.p99), fmt(unloadedConfirm.max)],
        ['(floor) ... of which: hash claim -> SYNCED', fmt(unloadedHash.p50), fmt(unloadedHash.p95), fmt(unloadedHash.p99), fmt(unloadedHash.max)],
        ['... of which: confirm request (HeadObject, transaction, eager publish)', fmt(confirm.p50), fmt(confirm.p95), fmt(confirm.p99), fmt(confirm.max)],
        ['... of which: confirm answered -> hash claim (SQS delivery, poller)', fmt(delivery.p50), fmt(delivery.p95), fmt(delivery.p99), fmt(delivery.max)],
        ['... of which: hash claim -> SYNCED (GetObject, SHA-256, Redis, UPDATE)', fmt(hashing.p50), fmt(hashing.p95), fmt(hashing.p99), fmt(hashing.max)],
      ],
    ),
    '',
    `${files} CSV files of 1-3 KB (all reached SYNCED), ${concurrency} clients, each doing presign -> multipart POST to storage -> confirm ` +
      `through the local runtime's HTTP API. The runtime runs **in a separate process** (\`bench/runtime-server.ts\`, tsx, as \`npm start\`: ` +
      `4 SQS pollers with 5 s long polls and up to 20 hash invocations in flight, relay sweep every 1 s), so load generator and server do not share an event loop. ` +
      `confirm -> SYNCED is measured from the client sending confirm to the row's \`synced_at\` (the same host clock). ` +
      `The floor rows send ${UNLOADED_FILES} more files one at a time and wait for each to be SYNCED: the latency the pipeline adds when nothing queues. ` +
      `The bare baseline POSTs the same files with policies signed beforehand, at the same concurrency. The request-mix baseline makes, ` +
      `per file and at the same concurrency, exactly the LocalStack requests the pipeline makes (POST, HeadObject, SendMessageBatch, ` +
      `ReceiveMessage, GetObject, DeleteMessageBatch) with no API, database, Redis or handler: the most LocalStack allows for this pipeline. ` +
      `Goal: p50 <= 100 ms, p99 <= 500 ms — ${verdict(ok)}.`,
  ].join('\n')
  return { title: '2. End to end: small files through the HTTP API', body, ok }
}
