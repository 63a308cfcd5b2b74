import { z } from 'zod'
import { FILE_EVENT_TYPES } from './events.js'

// No control characters: these strings end up in logs, headers and the database. No lone
// surrogates either: encoding would silently turn them into U+FFFD.
const printable = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\p{Cc}\p{Cs}]*$/u, 'must not contain control characters or unpaired surrogates')

const fileId = z.uuid({ error: 'must be a UUID' })
const fileSize = z.number().int().positive().max(Number.MAX_SAFE_INTEGER)

export const MAX_CONFIRM_BATCH = 100

export const presignRequest = z.object({
  filename: z.string().min(1).max(1024),
  external_id: printable(255),
  content_type: printable(255).optional(),
  file_size: fileSize.optional(),
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hexadecimal characters')
    .transform((s) => s.toLowerCase())
    .optional(),
})
export type PresignRequest = z.infer<typeof presignRequest>

export const presignResponse = z.object({
  file_id: z.uuid(),
  upload_url: z.url(),
  form_fields: z.record(z.string(), z.string()),
  expires_at: z.iso.datetime(),
  max_file_size: z.number().int(),
})

const confirmItem = z.object({ file_id: fileId, file_size: fileSize })

export const confirmRequest = z.union([
  confirmItem,
  z.object({
    uploads: z
      .array(confirmItem)
      .min(1)
      .max(MAX_CONFIRM_BATCH)
      .refine((items) => new Set(items.map((i) => i.file_id)).size === items.length, 'file_id must be unique within a batch'),
  }),
])
export type ConfirmRequest = z.infer<typeof confirmRequest>
export type ConfirmItem = z.infer<typeof confirmItem>

export const fileIdParams = z.object({ id: fileId })

export const listQuery = z.object({
  external_id: printable(255).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(200).optional(),
})
export type ListQuery = z.infer<typeof listQuery>

export const fileStatus = z.enum(['PENDING', 'UPLOADED', 'SYNCING', 'SYNCED', 'FAILED', 'EXPIRED'])

export const fileView = z.object({
  id: z.uuid(),
  external_id: z.string(),
  filename: z.string(),
  content_type: z.string(),
  file_size: z.number().int().nullable(),
  status: fileStatus,
  sha256: z.string().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  created_at: z.iso.datetime(),
  uploaded_at: z.iso.datetime().nullable(),
  synced_at: z.iso.datetime().nullable(),
})

export const confirmResponse = z.object({
  confirmed: z.number().int(),
  files: z.array(z.object({ file_id: z.uuid(), status: fileStatus })),
  failed: z.array(z.object({ file_id: z.string(), error: z.object({ code: z.string(), message: z.string() }) })),
})

export const getFileResponse = z.object({
  file: fileView,
  content: z.string().nullable(),
  content_encoding: z.enum(['utf-8', 'base64']).nullable(),
  download_url: z.url().nullable(),
})

export const listResponse = z.object({ files: z.array(fileView), next_cursor: z.string().nullable() })

export const healthResponse = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  checks: z.record(z.enum(['database', 'cache', 'storage', 'queue']), z.enum(['ok', 'unavailable'])),
})

/** The message on the files queue. */
export const fileUploadedMessage = z.object({
  event: z.literal('file.uploaded'),
  file_id: fileId,
  outbox_id: z.string().optional(),
})

const eventType = z.enum(FILE_EVENT_TYPES)

/** A message on the webhooks queue (functions/core/webhooks.ts DeliveryMessage). */
export const deliveryMessage = z.object({
  delivery_id: z.string(),
  webhook_id: z.uuid(),
  attempt: z.number().int().positive(),
  url: z.string(),
  secrets: z.array(z.string()).min(1),
  event_id: z.string(),
  event_type: eventType,
  body: z.string(),
})

/** A message on the webhook results queue. */
export const attemptResult = z.object({
  delivery_id: z.string(),
  attempt: z.number().int().positive(),
  status_code: z.number().int().nullable(),
  error: z.string().nullable(),
  at: z.iso.datetime(),
})

export const webhookIdParams = z.object({ id: z.uuid({ error: 'must be a UUID' }) })

export const createWebhookRequest = z.object({
  url: z.string().min(1).max(2048),
  events: z.array(eventType).min(1).max(5).optional(),
  description: printable(500).optional(),
})
export type CreateWebhookRequest = z.infer<typeof createWebhookRequest>

const webhookView = z.object({
  id: z.uuid(),
  url: z.string(),
  events: z.array(eventType),
  description: z.string().nullable(),
  created_at: z.iso.datetime(),
  disabled_at: z.iso.datetime().nullable(),
  disabled_reason: z.string().nullable(),
})

export const createWebhookResponse = webhookView.omit({ disabled_at: true, disabled_reason: true }).extend({ secret: z.string() })
export const rotateSecretResponse = z.object({ id: z.uuid(), secret: z.string(), previous_secret_expires_at: z.iso.datetime() })
export const listWebhooksResponse = z.object({ webhooks: z.array(webhookView) })
export const deliveriesResponse = z.object({
  deliveries: z.array(
    z.object({
      event_id: z.string(),
      type: z.string(),
      attempt: z.number().int(),
      status_code: z.number().int().nullable(),
      error: z.string().nullable(),
      at: z.iso.datetime(),
    }),
  ),
})
