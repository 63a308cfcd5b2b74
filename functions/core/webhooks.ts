import { createHmac, randomBytes } from 'node:crypto'
import type { FileEventType } from './events.js'

/** Standard Webhooks' symmetric secret: `whsec_` + base64 of 24-64 random bytes. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/** `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, keyed with the secret's decoded bytes. */
export function signature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

/**
 * The Standard Webhooks headers of one attempt. Every secret still valid signs, space-separated,
 * so a receiver that has not switched to a rotated secret yet still verifies.
 */
export function webhookHeaders(secrets: readonly string[], id: string, timestamp: number, body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'upload-pipeline-webhooks/1',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signature(s, id, timestamp, body)).join(' '),
  }
}

/** The message the webhooks queue carries: everything the sender needs, so it needs no database. */
export interface DeliveryMessage {
  delivery_id: string
  webhook_id: string
  attempt: number
  url: string
  /** The current secret first; a rotated-out secret still in its grace period second. */
  secrets: string[]
  event_id: string
  event_type: FileEventType
  body: string
}

/** What the sender reports on the results queue for one attempt. */
export interface AttemptResult {
  delivery_id: string
  attempt: number
  status_code: number | null
  error: string | null
  at: string
}

export type AttemptOutcome = 'delivered' | 'gone' | 'retry'

/** 2xx delivers, 410 Gone disables the endpoint, anything else (3xx included: redirects are not followed) is retried. */
export function outcomeOf(result: Pick<AttemptResult, 'status_code'>): AttemptOutcome {
  const status = result.status_code
  if (status !== null && status >= 200 && status < 300) return 'delivered'
  if (status === 410) return 'gone'
  return 'retry'
}

/**
 * Seconds to wait before attempt `attempt + 1` after `attempt` failed, or undefined when the
 * schedule is exhausted. Up to a fifth of jitter either way, so endpoints that failed together do
 * not all come back at the same second.
 */
export function retryDelaySeconds(schedule: readonly number[], attempt: number, random: () => number = Math.random): number | undefined {
  const base = schedule[attempt - 1]
  if (base === undefined) return undefined
  return Math.max(0, Math.round(base * (0.8 + 0.4 * random())))
}

/** Standard Webhooks' example schedule, in seconds after each failed attempt: about 75 hours in all, over 3 days. */
export const DEFAULT_RETRY_SCHEDULE_SECONDS: readonly number[] = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]

/**
 * How long a dispatched attempt may take to report back before it is dispatched again, by default: longer than
 * the webhooks queue keeps redelivering one message (six sender timeouts of visibility, five receives).
 */
export const DELIVERY_LEASE_SECONDS = 3600

/** Standard Webhooks: a receiver has 15-30 s to answer. */
export const WEBHOOK_TIMEOUT_MS = 15_000
/** Only the status matters; a receiver's body is read no further than this, for the delivery log. */
export const MAX_RESPONSE_BYTES = 4096
