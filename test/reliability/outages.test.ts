import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { bootstrapDatabase } from '../../bin/local/database.js'
import type { Deps } from '../../functions/core/deps.js'
import { ApiClient, tokenFor } from '../fixtures/pipeline.js'
import { confirmOnce, confirmUntilOk, readBack, uploadMany, type Answer, type Uploaded } from './support/api.js'
import { mapConcurrent } from '../../functions/core/concurrency.js'
import { installAudit, syncedTransitionAnomalies } from './support/audit.js'
import { sized } from './support/env.js'
import {
  lostFiles,
  scenarioDeps,
  scenarioQueue,
  sleep,
  spawnWorker,
  throwawayRedis,
  unpublishedCount,
  waitFor,
  type Child,
  useSharedDeps,
} from './support/harness.js'
import { throwawayPostgres } from './support/postgres.js'
import { tcpProxy } from '../fixtures/tcp-proxy.js'
import { recordScenario, seconds } from './support/report.js'

const RUNTIME = 'test/reliability/workers/runtime.ts'
/** A 503 must come back within this bound, never a hang (generous: the pool's connect timeout is 5 s). */
const ANSWER_BOUND_MS = 20_000

let children: Child[] = []
const shared = useSharedDeps()
async function stopChildren(): Promise<void> {
  await Promise.all(children.map((c) => c.kill('SIGTERM')))
  children = []
}

async function startRuntimeChild(env: Record<string, string>): Promise<{ child: Child; api: ApiClient }> {
  const child = spawnWorker(RUNTIME, env)
  children.push(child)
  const { url } = (await child.ready) as { url: string }
  return { child, api: new ApiClient(url, await tokenFor('reliability')) }
}

/**
 * Confirms every file at concurrency 8 and starts `fault` once a third are done. From then on, a probe
 * client confirms one held-back file every 100 ms until it gets a 200: the recovery time.
 */
async function confirmThroughFault(api: ApiClient, files: Uploaded[], fault: () => Promise<void>) {
  const [probe, ...rest] = files
  const answers = new Map<string, Answer>()
  const every: Answer[] = []
  let faultDone: Promise<void> | undefined
  let probeOk: Promise<Answer> | undefined
  await mapConcurrent(rest, 8, async (file, i) => {
    if (i === Math.floor(rest.length / 3)) {
      faultDone = fault()
      probeOk = (async () => {
        for (;;) {
          const answer = await confirmOnce(api, probe!)
          every.push(answer)
          if (answer.status === 200) return answer
          await sleep(100)
        }
      })()
    }
    const answer = await confirmOnce(api, file)
    answers.set(file.id, answer)
    every.push(answer)
    if (faultDone) await sleep(50)
  })
  faultDone!.catch(() => undefined)
  await faultDone
  answers.set(probe!.id, await probeOk!)
  return { answers, every }
}

/** Every confirmed file has its outbox row, and no outbox row belongs to a file that was not confirmed. */
async function halfWrittenState(db: Deps['db']): Promise<{ withoutOutbox: number; orphanRows: number }> {
  const { rows: a } = await sql<{ n: string }>`
    select count(*) as n from files f
    where f.status in ('UPLOADED', 'SYNCING', 'SYNCED') and not exists (select 1 from outbox o where o.file_id = f.id)`.execute(db)
  const { rows: b } = await sql<{ n: string }>`
    select count(*) as n from outbox o join files f on f.id = o.file_id where f.status in ('PENDING', 'EXPIRED')`.execute(db)
  return { withoutOutbox: Number(a[0]!.n), orphanRows: Number(b[0]!.n) }
}

describe('outages of the backing services', () => {
  it('7: Redis down: GET answers from S3, hashing still reaches SYNCED, and the cache recovers when Redis returns', async () => {
    const redis = await throwawayRedis()
    const queue = await scenarioQueue('redis-down')
    try {
      // A real presign rate limit, so the limiter's Redis calls are part of the outage too.
      const { api } = await startRuntimeChild({
        REDIS_URL: redis.url,
        FILES_QUEUE_URL: queue.queueUrl,
        PRESIGN_RATE_LIMIT: '100000',
      })
      const count = sized(20, 100)
      const before = await uploadMany(api, count)
      for (const f of before) expect(await confirmOnce(api, f)).toMatchObject({ status: 200 })
      await waitFor('files SYNCED with Redis up', async () => (await lostFiles(shared(), before)).length === 0, 60_000, 200)
      for (const f of before) expect(await readBack(api, f.id)).toMatchObject({ status: 200, sha256: f.sha256, cache: 'HIT' })

      await redis.stop()
      let slowest = 0
      for (const f of before) {
        const read = await readBack(api, f.id)
        expect(read).toMatchObject({ status: 200, sha256: f.sha256, cache: 'MISS' })
        slowest = Math.max(slowest, read.ms)
      }
      const during = await uploadMany(api, count)
      for (const f of during) expect(await confirmOnce(api, f)).toMatchObject({ status: 200 })
      await waitFor('files SYNCED with Redis down', async () => (await lostFiles(shared(), during)).length === 0, 60_000, 200)
      for (const f of during) {
        const read = await readBack(api, f.id)
        expect(read).toMatchObject({ status: 200, sha256: f.sha256, cache: 'MISS' })
        slowest = Math.max(slowest, read.ms)
      }
      expect(slowest).toBeLessThan(ANSWER_BOUND_MS)

      await redis.start()
      const upAt = Date.now()
      await waitFor('a cache HIT after Redis returned', async () => (await readBack(api, during[0]!.id)).cache === 'HIT', 60_000, 100)
      const recovery = Date.now() - upAt
      for (const f of [...before, ...during]) {
        await readBack(api, f.id)
        expect(await readBack(api, f.id)).toMatchObject({ status: 200, sha256: f.sha256, cache: 'HIT' })
      }

      // Frozen rather than stopped: connections stay open and nothing answers, so only timeouts help.
      redis.freeze()
      let slowestFrozen = 0
      let frozen: Uploaded[] = []
      try {
        for (const f of before.slice(0, 5)) {
          const read = await readBack(api, f.id)
          expect(read).toMatchObject({ status: 200, sha256: f.sha256, cache: 'MISS' })
          slowestFrozen = Math.max(slowestFrozen, read.ms)
        }
        frozen = await uploadMany(api, 5)
        for (const f of frozen) expect(await confirmOnce(api, f)).toMatchObject({ status: 200 })
        await waitFor('files SYNCED with Redis frozen', async () => (await lostFiles(shared(), frozen)).length === 0, 120_000, 200)
      } finally {
        redis.thaw()
      }
      expect(slowestFrozen).toBeLessThan(ANSWER_BOUND_MS)

      const lost = await lostFiles(shared(), [...before, ...during, ...frozen])
      expect(lost).toEqual([])
      recordScenario({
        id: '7',
        scenario: 'Redis down',
        injected: `throwaway redis-server stopped (SIGTERM) with ${count} files cached, ${count} more uploaded while it was down, then restarted; then frozen (SIGSTOP) while 5 files were read and 5 uploaded`,
        files: count * 2 + frozen.length,
        lost: lost.length,
        duplicates: '0 double SYNCED',
        recovery: `GETs served from S3 throughout (slowest ${slowest} ms, all X-Cache MISS, content verified); first cache HIT ${seconds(recovery)} after Redis restarted (the cache is skipped for 5 s after a failure); frozen Redis: GETs still 200 from S3 (slowest ${slowestFrozen} ms, bounded by the 2 s command timeout), uploads SYNCED`,
        notes: 'found and fixed: with Redis frozen every GET took 5.5 s (get and re-cache each waited for the command timeout); now 2 s once, then the cache is bypassed for 5 s',
      })
    } finally {
      await stopChildren()
      await redis.stop()
    }
  })

  it('8: Postgres down during confirms: 503 within a bound, no half-written state, service resumes on its own', async () => {
    const pg = await throwawayPostgres()
    // A production-like ratio: the visibility timeout is long compared with the outage, so the
    // pollers' failed deliveries during it do not exhaust maxReceiveCount.
    const queue = await scenarioQueue('postgres-down', 10)
    try {
      await bootstrapDatabase(pg.url, { then: installAudit })
      const deps = scenarioDeps({ DATABASE_URL: pg.url, FILES_QUEUE_URL: queue.queueUrl })
      const { child, api } = await startRuntimeChild({ DATABASE_URL: pg.url, FILES_QUEUE_URL: queue.queueUrl })
      const files = await uploadMany(api, sized(60, 300))

      let downAt = 0
      let upAt = 0
      const { answers, every: all } = await confirmThroughFault(api, files, async () => {
        await pg.stop('immediate')
        downAt = Date.now()
        await sleep(4_000)
        await pg.start()
        upAt = Date.now()
      })
      const unavailable = all.filter((a) => a.status === 503)
      const unclean = all.filter((a) => a.status !== 200 && !(a.status === 503 && a.code === 'SERVICE_UNAVAILABLE'))
      expect(unclean).toEqual([])
      expect(unavailable.length).toBeGreaterThan(0)
      const slowest503 = Math.max(...unavailable.map((a) => a.ms))
      expect(slowest503).toBeLessThan(ANSWER_BOUND_MS)
      // The runtime process was not restarted.
      expect(child.proc.exitCode).toBeNull()

      const recovery = answers.get(files[0]!.id)!.at - upAt
      for (const f of files) if (answers.get(f.id)!.status !== 200) await confirmUntilOk(api, f)
      await waitFor('every file SYNCED', async () => (await lostFiles(deps, files)).length === 0, 120_000, 250)
      const state = await halfWrittenState(deps.db)
      expect(state).toEqual({ withoutOutbox: 0, orphanRows: 0 })
      expect(await syncedTransitionAnomalies(deps.db)).toEqual([])
      const lost = await lostFiles(deps, files)
      expect(child.proc.exitCode).toBeNull()
      recordScenario({
        id: '8',
        scenario: 'Postgres down during confirms',
        injected: `throwaway cluster crashed (pg_ctl stop -m immediate) for ${seconds(upAt - downAt)} while ${files.length} files were confirmed at concurrency 8`,
        files: files.length,
        lost: lost.length,
        duplicates: '0 double SYNCED',
        recovery: `${unavailable.length} of ${all.length} confirm calls answered 503 SERVICE_UNAVAILABLE (slowest ${slowest503} ms), none 500; first 200 ${seconds(recovery)} after Postgres accepted connections again (${seconds(recovery + upAt - downAt)} after the crash), same runtime process; half-written state 0; clients re-confirmed and all SYNCED`,
        notes: 'found and fixed: the restart killed the runtime process (unhandled pg error event on idle and checked-out connections); now the pool drops them and reconnects',
      })
      await deps.close()
    } finally {
      await stopChildren()
      await pg.destroy()
    }
  })

  it('9: LocalStack down during confirms: each confirm fails cleanly or commits with its outbox row, and every committed row is published', async () => {
    const proxy = await tcpProxy({ host: '127.0.0.1', port: 4566 })
    const queue = await scenarioQueue('localstack-down', 10)
    const proxied = (u: string) => {
      const url = new URL(u)
      url.port = String(proxy.port)
      return url.toString()
    }
    try {
      const { child, api } = await startRuntimeChild({
        AWS_ENDPOINT_URL: `http://127.0.0.1:${proxy.port}`,
        FILES_QUEUE_URL: proxied(queue.queueUrl),
      })
      const files = await uploadMany(api, sized(60, 300))
      let cutAt = 0
      let upAt = 0
      let waitingAtRestore = 0
      const { answers, every: all } = await confirmThroughFault(api, files, async () => {
        await proxy.stop()
        cutAt = Date.now()
        await sleep(4_000)
        waitingAtRestore = await unpublishedCount(shared())
        await proxy.start()
        upAt = Date.now()
      })
      const firstOk = answers.get(files[0]!.id)!.at - upAt
      const unclean = all.filter((a) => a.status !== 200 && !(a.status === 503 && a.code === 'SERVICE_UNAVAILABLE'))
      expect(unclean).toEqual([])
      const unavailable = all.filter((a) => a.status === 503)
      expect(unavailable.length).toBeGreaterThan(0)
      expect(Math.max(...unavailable.map((a) => a.ms))).toBeLessThan(ANSWER_BOUND_MS)
      // Every 200 committed its outbox row; every 503 left its file PENDING without one.
      expect(await halfWrittenState(shared().db)).toEqual({ withoutOutbox: 0, orphanRows: 0 })
      const committed = await shared().db.selectFrom('outbox').select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow()
      await waitFor('every committed row published', async () => (await unpublishedCount(shared())) === 0, 120_000, 100)
      const published = Date.now() - upAt

      for (const f of files) if (answers.get(f.id)!.status !== 200) await confirmUntilOk(api, f)
      await waitFor('every file SYNCED', async () => (await lostFiles(shared(), files)).length === 0, 120_000, 250)
      expect(await halfWrittenState(shared().db)).toEqual({ withoutOutbox: 0, orphanRows: 0 })
      expect(await syncedTransitionAnomalies(shared().db)).toEqual([])
      expect(child.proc.exitCode).toBeNull()
      const lost = await lostFiles(shared(), files)
      recordScenario({
        id: '9',
        scenario: 'LocalStack (S3 + SQS) down during confirms',
        injected: `TCP proxy in front of LocalStack cut (listener closed, live sockets destroyed) for ${seconds(upAt - cutAt)} during ${files.length} confirms at concurrency 8`,
        files: files.length,
        lost: lost.length,
        duplicates: '0 double SYNCED',
        recovery: `${unavailable.length} of ${all.length} confirm calls answered 503 (slowest ${Math.max(...unavailable.map((a) => a.ms))} ms), none 500; ${Number(committed.n)} committed, each with its outbox row (${waitingAtRestore} of them unpublished when the proxy returned); first 200 ${seconds(firstOk)} and every committed row published ${seconds(published)} after the proxy returned`,
        notes: 'a confirm whose eager publish failed after its commit still answers 200: its row waits for the relay (exponential backoff)',
      })
    } finally {
      await stopChildren()
      await proxy.stop()
    }
  })
})
