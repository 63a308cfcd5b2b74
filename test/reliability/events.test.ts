import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { startWebhookReceiver, type WebhookReceiver } from '../../bin/local/webhook-receiver.js'
import type { Deps } from '../../functions/core/deps.js'
import type { FileEvent } from '../../functions/core/events.js'
import { claimForSync, markDeleted, markSynced } from '../../functions/core/files.repository.js'
import { PUT_EVENTS_MAX_ENTRIES } from '../../functions/core/event-bus.js'
import { FILE_UPLOADED, publishFileEvents, RELAY_LANES } from '../../functions/core/outbox.js'
import { generateSecret } from '../../functions/core/webhooks.js'
import { insertWebhook } from '../../functions/core/webhooks.repository.js'
import { createBusReadback } from '../fixtures/bus-readback.js'
import { sized } from './support/env.js'
import { type Child, scenarioDeps, scenarioQueue, sleep, spawnWorker, useSharedDeps, waitFor } from './support/harness.js'
import { recordScenario, seconds } from './support/report.js'

const RUNTIME = 'test/reliability/workers/runtime.ts'
const RELAY = 'test/reliability/workers/event-relay.ts'
const OWNER = 'reliability-hooks'
useSharedDeps()

/** Queues of the scenario's own, the clients and child processes pointed at them. */
async function eventScenario(tag: string, settings: Record<string, string>) {
  const queues = await scenarioQueue(tag)
  const env = {
    FILES_QUEUE_URL: queues.queueUrl,
    WEBHOOKS_QUEUE_URL: queues.queues.webhooks.url,
    WEBHOOK_RESULTS_QUEUE_URL: queues.queues['webhook-results'].url,
    ...settings,
  }
  return { env, deps: scenarioDeps(env) }
}

/**
 * Counts at the endpoint: every request by webhook-id, and the ones answered 2xx. A retry after a non-2xx answer
 * (or after no answer at all) is the protocol working; a second 2xx for one id is a duplicate.
 */
function countingReceiver() {
  const requests = new Map<string, number>()
  const acked = new Map<string, number>()
  return {
    requests,
    acked,
    record(r: { id: string; status: number; error: string | undefined }) {
      requests.set(r.id, (requests.get(r.id) ?? 0) + 1)
      if (r.status >= 200 && r.status < 300 && !r.error) acked.set(r.id, (acked.get(r.id) ?? 0) + 1)
    },
    duplicates: () => [...acked.values()].reduce((n, k) => n + k - 1, 0),
  }
}

/** A file of OWNER's that the producer can finish: inserted UPLOADED and claimed, as the hash function would. */
async function claimedFile(deps: Deps) {
  const id = randomUUID()
  await deps.db
    .insertInto('files')
    .values({
      id,
      owner_id: OWNER,
      external_id: 'reliability-events',
      filename: 'events.csv',
      content_type: 'text/csv',
      object_key: `uploads/${OWNER}/${id}`,
      status: 'UPLOADED',
      file_size: 4,
      upload_expires_at: new Date(Date.now() + 3_600_000),
    })
    .execute()
  return (await claimForSync(deps.db, id, 60))!
}

/**
 * Events flowing: `files` files reach SYNCED in batches, and every other one is then deleted, each transition
 * committing its event. With `eager`, each batch is published right after its commit as the functions do;
 * without, the commit is all there is (the function died after it) and only the relay publishes.
 */
async function produceEvents(deps: Deps, files: number, options: { eager: boolean; batch?: number; pauseMs?: number }): Promise<void> {
  const batch = options.batch ?? 10
  for (let done = 0; done < files; done += batch) {
    const claims = await Promise.all(Array.from({ length: Math.min(batch, files - done) }, () => claimedFile(deps)))
    for (const claim of claims) if (!(await markSynced(deps.db, claim, 'a'.repeat(64)))) throw new Error(`${claim.id} not SYNCED`)
    const deleted = claims.filter((_, i) => i % 2 === 0)
    for (const claim of deleted) if (!(await markDeleted(deps.db, OWNER, claim.id))) throw new Error(`${claim.id} not DELETED`)
    if (options.eager) await publishFileEvents(deps, claims.map((c) => c.id))
    await sleep(options.pauseMs ?? 100)
  }
}

/** Every final-state event the transitions committed, by id: what must arrive, once. */
async function committedEvents(deps: Deps): Promise<Map<string, FileEvent>> {
  const rows = await deps.db.selectFrom('outbox').select('payload').where('event_type', '<>', FILE_UPLOADED).execute()
  return new Map(rows.map((r) => [(r.payload as unknown as FileEvent).id, r.payload as unknown as FileEvent]))
}

async function registerEndpoint(deps: Deps, receiver: WebhookReceiver): Promise<string> {
  const secret = generateSecret()
  const webhook = await insertWebhook(deps.db, { id: randomUUID(), ownerId: OWNER, url: receiver.url, events: null, description: 'reliability', secret })
  receiver.verifyWith(secret)
  return webhook.id
}

describe('events and webhooks under faults', () => {
  it('11: a webhook receiver that fails, then is down, then returns gets every event, none twice', async () => {
    const outage503Ms = sized(2_000, 10_000)
    const downMs = sized(3_000, 20_000)
    // Retries outlast the outage (about 64 s in all); seconds rather than the product's hours.
    const { env, deps } = await eventScenario('hook-outage', { WEBHOOK_RETRY_SCHEDULE_SECONDS: '1,1,2,2,3,3,5,5,8,8,13,13' })
    const counts = countingReceiver()
    let phase: 'up' | 'failing' = 'up'
    const status = () => (phase === 'failing' ? 503 : 204)
    let receiver = await startWebhookReceiver({ status, onReceived: (r) => counts.record(r) })
    const port = Number(new URL(receiver.url).port)
    const webhookId = await registerEndpoint(deps, receiver)
    const secret = (await deps.db.selectFrom('webhooks').select('secret').where('id', '=', webhookId).executeTakeFirstOrThrow()).secret
    const runtime: Child = spawnWorker(RUNTIME, { ...env, RUNTIME_RELAY_MS: '500' })
    await runtime.ready
    const files = sized(60, 400)
    let backAt = 0
    try {
      const producing = produceEvents(deps, files, { eager: true, pauseMs: sized(150, 100) })
      // The outage begins once deliveries flow, so that it interrupts them.
      await waitFor('the first delivery', async () => counts.acked.size > 0, 60_000, 50)
      phase = 'failing'
      await sleep(outage503Ms)
      await receiver.close()
      await sleep(downMs)
      phase = 'up'
      receiver = await startWebhookReceiver({ port, secret, status, onReceived: (r) => counts.record(r) })
      backAt = Date.now()
      await producing
      const expected = await committedEvents(deps)
      await waitFor('every event acknowledged by the receiver', async () => [...expected.keys()].every((id) => counts.acked.has(id)), 180_000, 250)
      // Anything sent twice would arrive within the retries' first steps.
      await sleep(3_000)

      const committed = await committedEvents(deps)
      const lost = [...committed.keys()].filter((id) => !counts.acked.has(id))
      expect(lost).toEqual([])
      expect(counts.duplicates()).toBe(0)
      expect([...counts.acked.keys()].every((id) => committed.has(id))).toBe(true)
      const failedAttempts = await deps.db
        .selectFrom('webhook_attempts')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where((eb) => eb.or([eb('status_code', 'is', null), eb('status_code', '>=', 300)]))
        .executeTakeFirstOrThrow()
      // The outage was real: attempts failed, and the endpoint outlived it.
      expect(Number(failedAttempts.n)).toBeGreaterThan(0)
      const hook = await deps.db.selectFrom('webhooks').select('disabled_at').where('id', '=', webhookId).executeTakeFirstOrThrow()
      expect(hook.disabled_at).toBeNull()
      const pending = await deps.db.selectFrom('webhook_deliveries').select('id').where('status', '<>', 'DELIVERED').execute()
      expect(pending).toEqual([])
      const retried = (await deps.db.selectFrom('webhook_deliveries').select('id').where('attempts', '>', 1).execute()).length
      const refused = [...counts.requests.entries()].filter(([id, n]) => n > (counts.acked.get(id) ?? 0)).length
      recordScenario({
        id: '11',
        scenario: 'webhook receiver outage',
        injected: `receiver answered 503 for ${seconds(outage503Ms)}, then was down (connection refused) for ${seconds(downMs)}, while events flowed`,
        files: committed.size,
        lost: lost.length,
        duplicates: `${counts.duplicates()} (webhook-ids acknowledged twice); ${retried} deliveries retried after a failed attempt (${refused} of them answered 503 first), ${failedAttempts.n} failed attempts in the delivery log`,
        recovery: `${seconds(Date.now() - backAt - 3_000)} from the receiver's return to every event acknowledged`,
        notes: 'files = events (file.synced and file.deleted) published eagerly and by the relay; retries follow WEBHOOK_RETRY_SCHEDULE_SECONDS with jitter',
      })
    } finally {
      await runtime.kill('SIGTERM')
      await receiver.close()
      await deps.close()
    }
  })

  it('12: relays SIGKILLed while events flow: every event reaches the bus and the receiver, and the receiver none twice', async () => {
    // A dispatcher killed between claiming a delivery and queueing it leaves it leased: seconds here, an hour by default.
    const { env, deps } = await eventScenario('event-relay', { WEBHOOK_DELIVERY_LEASE_SECONDS: '10' })
    const counts = countingReceiver()
    const receiver = await startWebhookReceiver({ onReceived: (r) => counts.record(r) })
    await registerEndpoint(deps, receiver)
    const bus = await createBusReadback(`rel-bus-${Date.now().toString(36)}`)
    // The runtime only consumes the webhook queues here: the relay is the killed process alone.
    const runtime: Child = spawnWorker(RUNTIME, { ...env, RUNTIME_RELAY_MS: '0' })
    await runtime.ready
    const onBus = new Map<string, number>()
    const envelopes = new Set<string>()
    let reading = true
    const reader = (async () => {
      while (reading) {
        for (const e of await bus.receive(1)) {
          onBus.set(e.detail.id, (onBus.get(e.detail.id) ?? 0) + 1)
          envelopes.add(e.id)
        }
      }
    })()
    const files = sized(60, 400)
    const started = Date.now()
    let kills = 0
    let lastKillAt = started
    try {
      let producing = true
      const producer = produceEvents(deps, files, { eager: false }).finally(() => (producing = false))
      const unpublished = async () =>
        Number(
          (
            await deps.db
              .selectFrom('outbox')
              .select((eb) => eb.fn.countAll<string>().as('n'))
              .where('published_at', 'is', null)
              .where('event_type', '<>', FILE_UPLOADED)
              .executeTakeFirstOrThrow()
          ).n,
        )
      while (producing || kills < sized(5, 20)) {
        const relay = spawnWorker(RELAY, env)
        await relay.ready
        await sleep(30 + Math.random() * 400)
        if ((await relay.kill('SIGKILL')) === null && relay.proc.signalCode === 'SIGKILL') {
          kills += 1
          lastKillAt = Date.now()
        }
      }
      await producer
      // One relay that lives: it publishes whatever the killed ones left, and dispatches deliveries whose lease ran out.
      const last = spawnWorker(RELAY, env)
      await last.ready
      const expected = await committedEvents(deps)
      try {
        await waitFor(
          'every event on the bus and acknowledged by the receiver',
          async () => (await unpublished()) === 0 && [...expected.keys()].every((id) => onBus.has(id) && counts.acked.has(id)),
          180_000,
          250,
        )
        await sleep(3_000)
      } finally {
        await last.kill('SIGKILL')
      }
      reading = false
      await reader

      const committed = await committedEvents(deps)
      const lostAtReceiver = [...committed.keys()].filter((id) => !counts.acked.has(id))
      const lostOnBus = [...committed.keys()].filter((id) => !onBus.has(id))
      const busDuplicates = [...onBus.values()].reduce((n, k) => n + k - 1, 0)
      // Each envelope has an id of its own per PutEvents entry: extra ones are puts again, not deliveries again.
      expect(envelopes.size).toBe(committed.size + busDuplicates)
      expect(lostAtReceiver).toEqual([])
      expect(lostOnBus).toEqual([])
      expect(counts.duplicates()).toBe(0)
      expect([...onBus.keys()].every((id) => committed.has(id))).toBe(true)
      expect(kills).toBeGreaterThanOrEqual(sized(5, 20))
      // Each kill puts at most the rounds it had in flight again: one per lane.
      expect(busDuplicates).toBeLessThanOrEqual(kills * RELAY_LANES * PUT_EVENTS_MAX_ENTRIES)
      recordScenario({
        id: '12',
        scenario: 'relay SIGKILLed while events flow (bus and webhooks)',
        injected: `${kills} SIGKILLs of the relay process (the shipped RelayOutbox handler in a loop) at random moments while transitions committed events`,
        files: committed.size,
        lost: lostAtReceiver.length + lostOnBus.length,
        duplicates: `receiver: ${counts.duplicates()} (webhook-ids acknowledged twice); bus read-back: ${busDuplicates} events put again (distinct EventBridge envelopes for one event id), each by a relay killed after PutEvents and before its round committed`,
        recovery: `${seconds(Date.now() - lastKillAt - 3_000)} from the last kill to every event on the bus and at the receiver`,
        notes: `files = events (file.synced and file.deleted). The bus is at least once by design (EventBridge has no idempotency key): a kill after a PutEvents call and before its round commits puts that round again: at most ${PUT_EVENTS_MAX_ENTRIES} events per lane (${RELAY_LANES} lanes), since final events go in rounds of one call; consumers dedupe on the event id. A webhook delivery is one row per endpoint and event, so a re-put adds none`,
      })
    } finally {
      reading = false
      await reader
      await runtime.kill('SIGTERM')
      await bus.close()
      await receiver.close()
      await deps.close()
    }
  })
})
