import { randomUUID } from 'node:crypto'
import type { Deps } from './deps.js'
import { AppError, webhookNotFound } from './errors.js'
import { FILE_EVENT_TYPES } from './events.js'
import type { CreateWebhookRequest } from './schemas.js'
import { hostOf, isPublicAddress, resolveAll, webhookUrlProblem } from './ssrf.js'
import { generateSecret } from './webhooks.js'
import {
  deleteWebhook as deleteRow,
  enableWebhook as enableRow,
  findOwnedWebhook,
  insertWebhook,
  listAttempts,
  listWebhooks as listRows,
  rotateWebhookSecret,
  type Webhook,
} from './webhooks.repository.js'

const MAX_LOG_ENTRIES = 100

const refuse = (message: string): AppError => new AppError('VALIDATION_FAILED', `url ${message}`, [{ field: 'body.url', message }])

/**
 * Registration's SSRF check: an http(s) URL without credentials whose host is, or resolves only
 * to, public addresses. Delivery checks again at connect time, since DNS can change in between.
 */
export async function mustBeDeliverableUrl(raw: string, allowPrivateNetworks: boolean): Promise<void> {
  const problem = webhookUrlProblem(raw)
  if (problem) throw refuse(problem)
  if (allowPrivateNetworks) return
  const host = hostOf(new URL(raw))
  let addresses: string[]
  try {
    addresses = await resolveAll(host)
  } catch {
    throw refuse(`host ${host} does not resolve`)
  }
  const blocked = addresses.find((a) => !isPublicAddress(a))
  if (blocked) throw refuse(`resolves to ${blocked}, which is not a public address`)
}

const view = (w: Webhook) => ({
  id: w.id,
  url: w.url,
  events: w.events ?? [...FILE_EVENT_TYPES],
  description: w.description,
  created_at: w.createdAt.toISOString(),
  disabled_at: w.disabledAt?.toISOString() ?? null,
  disabled_reason: w.disabledReason,
})

/** Registers an endpoint; the response is the only time its secret is shown. */
export async function createWebhook(deps: Deps, ownerId: string, input: CreateWebhookRequest) {
  await mustBeDeliverableUrl(input.url, deps.config.webhookAllowPrivateNetworks)
  const secret = generateSecret()
  const webhook = await insertWebhook(deps.db, {
    id: randomUUID(),
    ownerId,
    url: input.url,
    events: input.events ? [...new Set(input.events)] : null,
    description: input.description ?? null,
    secret,
  })
  const { disabled_at: _d, disabled_reason: _r, ...shown } = view(webhook)
  return { ...shown, secret }
}

export async function listWebhooks(deps: Deps, ownerId: string) {
  return { webhooks: (await listRows(deps.db, ownerId)).map(view) }
}

export async function deleteWebhook(deps: Deps, ownerId: string, id: string): Promise<void> {
  if (!(await deleteRow(deps.db, ownerId, id))) throw webhookNotFound()
}

/**
 * A new secret, shown once. The old one keeps signing beside it for the grace period, so the
 * receiver can switch without missing a delivery: each attempt carries both signatures until then.
 */
export async function rotateSecret(deps: Deps, ownerId: string, id: string) {
  const secret = generateSecret()
  const webhook = await rotateWebhookSecret(deps.db, ownerId, id, secret, deps.config.webhookSecretGraceSeconds)
  if (!webhook) throw webhookNotFound()
  const expires = new Date(Date.now() + deps.config.webhookSecretGraceSeconds * 1000)
  return { id: webhook.id, secret, previous_secret_expires_at: expires.toISOString() }
}

/**
 * Puts an endpoint that was disabled (410 Gone, or failing through the whole retry schedule) back in
 * service. Events from while it was disabled are not sent: the delivery log shows what failed, and on
 * AWS the bus's archive can replay them to other consumers (docs/RUNBOOK.md).
 */
export async function enableWebhookEndpoint(deps: Deps, ownerId: string, id: string) {
  const webhook = await enableRow(deps.db, ownerId, id)
  if (!webhook) throw webhookNotFound()
  deps.logger.info('webhook endpoint enabled', { webhook_id: id })
  return view(webhook)
}

export async function listDeliveries(deps: Deps, ownerId: string, id: string) {
  if (!(await findOwnedWebhook(deps.db, ownerId, id))) throw webhookNotFound()
  return { deliveries: await listAttempts(deps.db, id, MAX_LOG_ENTRIES) }
}
