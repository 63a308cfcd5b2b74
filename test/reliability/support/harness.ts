import { randomBytes, randomUUID } from 'node:crypto'
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo, connect } from 'node:net'
import { createInterface } from 'node:readline'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { DeleteMessageBatchCommand, PurgeQueueCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs'
import { sql } from 'kysely'
import { mapConcurrent } from '../../../functions/core/concurrency.js'
import { afterAll, beforeAll, beforeEach } from 'vitest'
import { provision, type ProvisionResult } from '../../../localstack/provision.js'
import { loadConfig } from '../../../functions/core/config.js'
import { createDeps, type Deps } from '../../../functions/core/deps.js'
import { insertFile, markUploaded } from '../../../functions/core/files.repository.js'
import { syncFile } from '../../../functions/core/sync.js'
import { enqueueFileUploaded, FILE_UPLOADED } from '../../../functions/core/outbox.js'
import { objectKeyFor } from '../../../functions/core/rules.js'
import { createS3Client } from '../../../functions/core/storage.js'
import { sha256, sqsClient } from '../../fixtures/pipeline.js'
import { truncateAll } from './audit.js'
import { benchDir, root } from './report.js'

export { root }
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A queue (and its DLQ) of the scenario's own, so no scenario sees another's messages. */
export async function scenarioQueue(tag: string, visibilityTimeoutSeconds = 2): Promise<ProvisionResult> {
  return provision({
    env: process.env,
    queuePrefix: `rel-${tag}-${Date.now().toString(36)}`,
    visibilityTimeoutSeconds,
    maxReceiveCount: Number(process.env.MAX_RECEIVE_COUNT),
  })
}

/** An independent set of clients (own pool, own Redis connection) with config overrides. */
export function scenarioDeps(overrides: Record<string, string> = {}): Deps {
  return createDeps(loadConfig({ ...process.env, ...overrides }))
}

/**
 * The hooks every scenario file shares: one set of clients for the file, every table emptied
 * before each scenario. Returns the clients (ready once `beforeAll` has run).
 */
export function useSharedDeps(): () => Deps {
  let shared: Deps | undefined
  beforeAll(() => {
    shared = scenarioDeps()
  })
  afterAll(() => shared?.close())
  beforeEach(() => truncateAll(shared!.db))
  return () => shared!
}

export interface Seeded {
  id: string
  key: string
  size: number
  sha256: string
  bytes: Buffer
}

/** Registers PENDING files and puts their objects in the bucket, as a client's presigned POST would. */
export async function seedUploads(deps: Deps, count: number, options: { owner?: string; size?: () => number } = {}): Promise<Seeded[]> {
  const owner = options.owner ?? 'reliability'
  const s3 = createS3Client(deps.config)
  const size = options.size ?? (() => 256 + Math.floor(Math.random() * 4096))
  try {
    return await mapConcurrent(Array.from({ length: count }, (_, i) => i), 16, async () => {
      const id = randomUUID()
      const bytes = randomBytes(size())
      const key = objectKeyFor(owner, id)
      await insertFile(deps.db, {
        id,
        owner_id: owner,
        external_id: 'reliability',
        filename: 'data.bin',
        content_type: 'application/octet-stream',
        object_key: key,
        declared_size: bytes.length,
        upload_expires_at: new Date(Date.now() + 3_600_000),
      })
      await putObject(s3, deps.config.bucketName, key, bytes)
      return { id, key, size: bytes.length, sha256: sha256(bytes), bytes }
    })
  } finally {
    s3.destroy()
  }
}

export async function putObject(s3: S3Client, bucket: string, key: string, body: Buffer, storageClass?: 'GLACIER' | 'STANDARD') {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...(storageClass ? { StorageClass: storageClass } : {}) }))
}

/**
 * Commits confirms exactly as `confirmUploads` does (PENDING→UPLOADED and the outbox row in one
 * transaction) but without the eager publish: the confirm function died right after its commit.
 */
/**
 * The start most delivery and relay scenarios share: a queue of their own, clients pointed at it,
 * and `count` uploads already confirmed (status UPLOADED, outbox rows committed, nothing published).
 */
export async function confirmedScenario(tag: string, count: number): Promise<{ queue: ProvisionResult; deps: Deps; files: Seeded[] }> {
  const queue = await scenarioQueue(tag)
  const deps = scenarioDeps({ FILES_QUEUE_URL: queue.queueUrl })
  const files = await seedUploads(deps, count)
  await commitConfirmed(deps, files)
  return { queue, deps, files }
}

export async function commitConfirmed(deps: Deps, files: readonly Seeded[]): Promise<string[]> {
  const outboxIds: string[] = []
  for (let i = 0; i < files.length; i += 100) {
    const chunk = files.slice(i, i + 100)
    outboxIds.push(
      ...(await deps.db.transaction().execute(async (trx) => {
        for (const f of chunk) {
          // No version: these scenarios never overwrite a key, and reads stay capped at the confirmed size.
          if (!(await markUploaded(trx, f.id, f.size, null))) throw new Error(`${f.id} was not PENDING`)
        }
        return enqueueFileUploaded(trx, chunk.map((f) => f.id))
      })),
    )
  }
  return outboxIds
}



export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

export async function statusCounts(deps: Deps): Promise<Record<string, number>> {
  const rows = await deps.db.selectFrom('files').select(['status', sql<string>`count(*)`.as('n')]).groupBy('status').execute()
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]))
}

/**
 * Unpublished `file.uploaded` rows: what these scenarios relay to the files queue. Final-state events are published
 * by the function that made the transition, or by a relay with the event bus (scenarios 11 and 12 count those).
 */
export async function unpublishedCount(deps: Deps): Promise<number> {
  const row = await deps.db
    .selectFrom('outbox')
    .select(sql<string>`count(*)`.as('n'))
    .where('published_at', 'is', null)
    .where('event_type', '=', FILE_UPLOADED)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/** Confirmed files not SYNCED with the SHA-256 of the bytes that were uploaded. */
export async function lostFiles(deps: Deps, files: readonly Pick<Seeded, 'id' | 'sha256'>[]): Promise<string[]> {
  const lost: string[] = []
  for (let i = 0; i < files.length; i += 1000) {
    const chunk = files.slice(i, i + 1000)
    const rows = await deps.db.selectFrom('files').select(['id', 'status', 'sha256']).where('id', 'in', chunk.map((f) => f.id)).execute()
    const byId = new Map(rows.map((r) => [r.id, r]))
    for (const f of chunk) {
      const row = byId.get(f.id)
      if (!row || row.status !== 'SYNCED' || row.sha256 !== f.sha256) lost.push(f.id)
    }
  }
  return lost
}

export async function purgeQueue(queueUrl: string): Promise<void> {
  const sqs = sqsClient()
  try {
    await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }))
  } finally {
    sqs.destroy()
  }
}

/**
 * A consumer that counts every message it receives per outbox id (distinct SQS message ids) and
 * hands each to `syncFile`, deleting only what succeeded, as the event source mapping does.
 */
export function startCountingConsumer(deps: Deps, queueUrl: string, pollers = 4) {
  const sqs: SQSClient = sqsClient()
  const received = new Map<string, Set<string>>()
  const outcomes: Record<string, number> = {}
  let stopped = false
  const poll = async (): Promise<void> => {
    while (!stopped) {
      try {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['All'] }),
        )
        const done: { Id: string; ReceiptHandle: string }[] = []
        await Promise.all(
          Messages.map(async (m, i) => {
            const body = JSON.parse(m.Body!) as { file_id: string; outbox_id: string }
            const seen = received.get(body.outbox_id) ?? new Set<string>()
            seen.add(m.MessageId!)
            received.set(body.outbox_id, seen)
            try {
              const outcome = await syncFile(deps, body.file_id, { receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1) })
              outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
              done.push({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })
            } catch {
              outcomes.RETRY = (outcomes.RETRY ?? 0) + 1
            }
          }),
        )
        if (done.length) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: done }))
      } catch (error) {
        if (!stopped) await sleep(200)
      }
    }
  }
  const loops = Array.from({ length: pollers }, poll)
  return {
    received,
    outcomes,
    /** Publishes beyond the first, summed over outbox ids. */
    duplicates: () => [...received.values()].reduce((n, s) => n + s.size - 1, 0),
    doubleClaimed: () => [...received.values()].filter((s) => s.size > 1).length,
    async stop() {
      stopped = true
      await Promise.allSettled(loops)
      sqs.destroy()
    },
  }
}

export interface Child {
  proc: ChildProcess
  /** The first JSON line with `ready` the child printed. */
  ready: Promise<Record<string, unknown>>
  exited: Promise<number | null>
  onLine(listener: (line: Record<string, unknown>) => void): void
  kill(signal?: NodeJS.Signals): Promise<number | null>
}

/** Runs a TypeScript worker as a real child process; it reports on stdout as JSON lines. */
export function spawnWorker(script: string, env: Record<string, string | undefined>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const listeners: ((line: Record<string, unknown>) => void)[] = []
  let stderr = ''
  proc.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
    // Children's logs, for a post-mortem of a failed scenario.
    appendFileSync(join(benchDir, 'children.log'), d)
  })
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    listeners.push((line) => {
      if (line.ready) resolve(line)
    })
    void exited.then((code) => reject(new Error(`${script} exited (${code}) before it was ready: ${stderr}`)))
  })
  ready.catch(() => undefined)
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>
    try {
      line = JSON.parse(text) as Record<string, unknown>
    } catch {
      return
    }
    for (const l of listeners) l(line)
  })
  return {
    proc,
    ready,
    exited,
    onLine: (listener) => listeners.push(listener),
    async kill(signal = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      return exited
    },
  }
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((r) => server.close(() => r()))
  return port
}

/** A throwaway redis-server on its own port, stopped and started for real. */
export async function throwawayRedis() {
  const port = await freePort()
  let proc: ChildProcess | undefined
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    await waitFor('redis-server to listen', () => canConnect(port), 10_000, 50)
  }
  const stop = async () => {
    if (!proc || proc.exitCode !== null) return
    const exited = new Promise((r) => proc!.once('exit', r))
    proc.kill('SIGTERM')
    await exited
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    start,
    stop,
    /** SIGSTOP: the server keeps its connections but answers nothing, the nastier outage. */
    freeze: () => void proc?.kill('SIGSTOP'),
    thaw: () => void proc?.kill('SIGCONT'),
  }
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}
