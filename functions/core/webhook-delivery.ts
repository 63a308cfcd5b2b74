import { settleConcurrent } from './concurrency.js'
import type { Deps } from './deps.js'
import { SQS_MAX_BATCH } from './aws-limits.js'
import { sendDelivery } from './webhook-sender.js'
import type { AttemptResult, DeliveryMessage } from './webhooks.js'
import { claimDeliveries, type RecordedOutcome, recordAttempt, releaseDeliveries } from './webhooks.repository.js'

/** SQS holds a message back at most 15 minutes; longer waits are left to the periodic dispatch. */
export const MAX_QUEUE_DELAY_SECONDS = 900
const DISPATCH_LIMIT = 500
const SEND_CONCURRENCY = 10

/**
 * Hands due webhook deliveries (or the given ones, held back `delaySeconds`) to the sender's
 * queue. Each message carries everything one attempt needs (URL, secrets, body), so the sender
 * runs outside the VPC without database access. Returns how many were queued.
 */
export async function dispatchDeliveries(deps: Deps, options: { ids?: readonly string[]; delaySeconds?: number } = {}): Promise<number> {
  const delaySeconds = Math.min(options.delaySeconds ?? 0, MAX_QUEUE_DELAY_SECONDS)
  const claimed = await claimDeliveries(deps.db, { ids: options.ids, limit: DISPATCH_LIMIT, delaySeconds, leaseSeconds: deps.config.webhookDeliveryLeaseSeconds })
  if (claimed.length === 0) return 0
  const messages = claimed.map((d) => ({
    id: d.id,
    delaySeconds,
    body: JSON.stringify({
      delivery_id: d.id,
      webhook_id: d.webhookId,
      attempt: d.attempt,
      url: d.url,
      secrets: d.secrets,
      event_id: d.eventId,
      event_type: d.eventType,
      body: JSON.stringify(d.payload),
    } satisfies DeliveryMessage),
  }))
  const batches: (typeof messages)[] = []
  for (let i = 0; i < messages.length; i += SQS_MAX_BATCH) batches.push(messages.slice(i, i + SQS_MAX_BATCH))
  const outcomes = await settleConcurrent(batches, SEND_CONCURRENCY, (batch) => deps.webhookQueue.sendBatch(batch))
  const unsent: string[] = []
  outcomes.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') unsent.push(...outcome.value.failed.map((f) => f.id))
    else unsent.push(...batches[i]!.map((m) => m.id))
  })
  await releaseDeliveries(deps.db, unsent)
  if (unsent.length) deps.logger.warn('webhook deliveries not queued; the next dispatch retries', { count: unsent.length })
  return claimed.length - unsent.length
}

/**
 * The sender: one attempt per message, reported on the results queue. It throws when the results
 * cannot be queued, so SQS redelivers and the attempt is made again (receivers dedupe on webhook-id).
 */
export async function sendDeliveries(deps: Deps, messages: readonly DeliveryMessage[]): Promise<AttemptResult[]> {
  const outcomes = await settleConcurrent(messages, SEND_CONCURRENCY, (m) =>
    sendDelivery(m, { allowPrivateNetworks: deps.config.webhookAllowPrivateNetworks }),
  )
  const results = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []))
  for (let i = 0; i < results.length; i += SQS_MAX_BATCH) {
    const batch = results.slice(i, i + SQS_MAX_BATCH)
    const { failed } = await deps.webhookResultsQueue.sendBatch(batch.map((r, j) => ({ id: String(j), body: JSON.stringify(r) })))
    if (failed.length) throw new Error(`${failed.length} webhook results could not be queued: ${failed[0]!.reason}`)
  }
  return results
}

/** The recorder: logs each attempt, and queues a retry due within SQS's delay limit straight away. */
export async function recordResults(deps: Deps, results: readonly AttemptResult[]): Promise<RecordedOutcome[]> {
  const outcomes: RecordedOutcome[] = []
  for (const result of results) {
    const outcome = await recordAttempt(deps.db, result, deps.config.webhookRetryScheduleSeconds)
    outcomes.push(outcome)
    if (outcome.kind === 'retry' && outcome.delaySeconds <= MAX_QUEUE_DELAY_SECONDS) {
      await dispatchDeliveries(deps, { ids: [result.delivery_id], delaySeconds: outcome.delaySeconds })
    }
    if (outcome.kind === 'disabled') deps.logger.warn('webhook endpoint disabled', { delivery_id: result.delivery_id, reason: outcome.reason })
  }
  return outcomes
}
