import { describe, expect, it } from 'vitest'
import { markUploaded } from '../../functions/core/files.repository.js'
import { enqueueFileUploaded, relayOutbox } from '../../functions/core/outbox.js'
import { syncedTransitionAnomalies } from './support/audit.js'
import { sized } from './support/env.js'
import {
  commitConfirmed,
  lostFiles,
  scenarioDeps,
  scenarioQueue,
  seedUploads,
  sleep,
  spawnWorker,
  startCountingConsumer,
  unpublishedCount,
  waitFor,
  type Child,
  useSharedDeps,
  confirmedScenario,
} from './support/harness.js'
import { recordScenario, seconds } from './support/report.js'

const RELAY = 'test/reliability/workers/relay-loop.ts'
const roundSize = sized(5, 20)
useSharedDeps()

describe('the outbox relay under faults', () => {
  it('1: publishes every confirmed upload although the relay is SIGKILLed again and again between claim, send and mark', async () => {
    const { queue, deps, files } = await confirmedScenario('relay-kill', sized(200, 1000))
    const consumer = startCountingConsumer(deps, queue.queueUrl, 4)
    const started = Date.now()
    let kills = 0
    let killsAfterSend = 0
    let lastKillAt = started
    try {
      while ((await unpublishedCount(deps)) > 0) {
        // Small rounds in the CI-sized run: 200 rows in 20-row rounds drained within one life at times,
        // leaving too few kills to mean anything.
        const relay: Child = spawnWorker(RELAY, { FILES_QUEUE_URL: queue.queueUrl, RELAY_BATCH_SIZE: String(roundSize) })
        await relay.ready
        // Half of the lives end right after a SendMessageBatch returned and before the mark commits,
        // the others at a random moment (claim, send or mark).
        const afterSend = Math.random() < 0.5
        if (afterSend) {
          // Several `sent` lines can arrive before the kill lands: count this life once.
          let killed = false
          relay.onLine((line) => {
            if (line.sent && !killed && relay.proc.exitCode === null) {
              killed = true
              relay.proc.kill('SIGKILL')
              killsAfterSend += 1
            }
          })
        }
        const timer = setTimeout(() => relay.proc.kill('SIGKILL'), afterSend ? 5_000 : 30 + Math.random() * 250)
        const code = await relay.exited
        clearTimeout(timer)
        if (relay.proc.signalCode === 'SIGKILL') {
          kills += 1
          lastKillAt = Date.now()
        }
        expect(code === null || code === 0).toBe(true)
      }
      await waitFor('every file SYNCED', async () => (await lostFiles(deps, files)).length === 0, 120_000, 250)
    } finally {
      await consumer.stop()
    }
    const lost = await lostFiles(deps, files)
    expect(lost).toEqual([])
    expect(kills).toBeGreaterThanOrEqual(sized(3, 10))
    expect(await unpublishedCount(deps)).toBe(0)
    expect(consumer.received.size).toBe(files.length)
    expect(await syncedTransitionAnomalies(deps.db)).toEqual([])
    recordScenario({
      id: '1',
      scenario: 'relay SIGKILLed between claim, send and mark',
      injected: `${kills} SIGKILLs of the relay process (${killsAfterSend} right after SendMessageBatch returned, before the mark)`,
      files: files.length,
      lost: lost.length,
      duplicates: `${consumer.duplicates()} duplicate publishes (${consumer.doubleClaimed()} outbox rows sent more than once); 0 double SYNCED`,
      recovery: `${seconds(Date.now() - lastKillAt)} from the last kill to all SYNCED; ${seconds(Date.now() - started)} in all`,
      notes: `at least once by design: a kill between the send and the commit re-sends the whole claimed round (${roundSize} rows here), and the hash function acknowledges the duplicates`,
    })
    await deps.close()
  })

  it('2: publishes an outbox row committed after higher ids were already published', async () => {
    const queue = await scenarioQueue('late-commit')
    const deps = scenarioDeps({ FILES_QUEUE_URL: queue.queueUrl })
    const [early, late] = await seedUploads(deps, 2)
    // The early confirm takes the lower outbox id and stays open while the late one commits.
    let releaseEarly!: () => void
    const gate = new Promise<void>((r) => (releaseEarly = r))
    let earlyId!: string
    let idTaken!: () => void
    const taken = new Promise<void>((r) => (idTaken = r))
    const earlyTx = deps.db.transaction().execute(async (trx) => {
      await markUploaded(trx, early!.id, early!.size, null)
      earlyId = (await enqueueFileUploaded(trx, [early!.id]))[0]!
      idTaken()
      await gate
    })
    await taken
    const [lateId] = await commitConfirmed(deps, [late!])
    expect(BigInt(lateId!)).toBeGreaterThan(BigInt(earlyId))
    const first = await relayOutbox(deps.db, deps.queue)
    expect(first.published).toBe(1)
    const committedAt = Date.now()
    releaseEarly()
    await earlyTx
    const second = await relayOutbox(deps.db, deps.queue)
    expect(second.published).toBe(1)
    const consumer = startCountingConsumer(deps, queue.queueUrl, 1)
    try {
      await waitFor('both files SYNCED', async () => (await lostFiles(deps, [early!, late!])).length === 0, 30_000)
    } finally {
      await consumer.stop()
    }
    expect([...consumer.received.keys()].sort()).toEqual([earlyId, lateId].sort())
    recordScenario({
      id: '2',
      scenario: 'outbox row committed after higher ids were published',
      injected: `confirm holding outbox id ${earlyId} open until id ${lateId} was published`,
      files: 2,
      lost: 0,
      duplicates: consumer.duplicates(),
      recovery: `published by the next relay round; SYNCED ${seconds(Date.now() - committedAt)} after its commit`,
    })
    await deps.close()
  })

  it('3: four relays at once publish every row exactly once', async () => {
    const { queue, deps, files } = await confirmedScenario('four-relays', sized(400, 2000))
    const consumer = startCountingConsumer(deps, queue.queueUrl, 4)
    const started = Date.now()
    try {
      const relays = Array.from({ length: 4 }, () =>
        spawnWorker(RELAY, { FILES_QUEUE_URL: queue.queueUrl, RELAY_BATCH_SIZE: '10', RELAY_EXIT_WHEN_DRAINED: '1' }),
      )
      const rounds = relays.map(() => 0)
      relays.forEach((r, i) => r.onLine((line) => {
        if ((line.round as { published?: number } | undefined)?.published) rounds[i]! += 1
      }))
      const codes = await Promise.all(relays.map((r) => r.exited))
      expect(codes).toEqual([0, 0, 0, 0])
      // Each relay did part of the work: they really ran at the same time.
      expect(rounds.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2)
      await waitFor('every file SYNCED', async () => (await lostFiles(deps, files)).length === 0, 120_000, 250)
      await sleep(500)
    } finally {
      await consumer.stop()
    }
    expect(await unpublishedCount(deps)).toBe(0)
    expect(consumer.received.size).toBe(files.length)
    expect(consumer.doubleClaimed()).toBe(0)
    recordScenario({
      id: '3',
      scenario: 'four relays at once',
      injected: '4 relay processes draining one outbox concurrently (FOR UPDATE SKIP LOCKED)',
      files: files.length,
      lost: (await lostFiles(deps, files)).length,
      duplicates: `double claims ${consumer.doubleClaimed()} (messages per outbox id counted)`,
      recovery: `n/a (no failure); drained and SYNCED in ${seconds(Date.now() - started)}`,
    })
    await deps.close()
  })
})
