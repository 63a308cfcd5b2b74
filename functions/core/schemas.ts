import { z } from 'zod'
import { S3_MAX_PARTS } from './aws-limits.js'
import { FILENAME_PATTERN, MAX_FILENAME_LENGTH, PRINTABLE_PATTERN, hasLoneSurrogate } from './rules.js'
import { FILE_EVENT_TYPES } from './events.js'

// No control characters: these strings end up in logs, headers and the database. No lone
// surrogates either: encoding would silently turn them into U+FFFD. Lengths count code points, as
// JSON Schema's maxLength does (zod's max counts UTF-16 units).
const printable = (max: number, min = 1) =>
  z
    .string()
    .min(min)
    .regex(new RegExp(PRINTABLE_PATTERN, 'u'), 'must not contain control characters')
    .refine((s) => !hasLoneSurrogate(s), 'must not contain unpaired surrogates')
    .refine((s) => [...s].length <= max, `must be at most ${max} characters`)
    .meta({ maxLength: max })

const fileId = z.uuid({ error: 'must be a UUID' })
const fileSize = z.number().int().positive().max(Number.MAX_SAFE_INTEGER)

export const MAX_CONFIRM_BATCH = 100
export const MAX_PRESIGN_BATCH = 100

const sha256Hex = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hexadecimal characters')
  .transform((s) => s.toLowerCase())

export const presignRequest = z
  .object({
    filename: z
      .string()
      .regex(new RegExp(FILENAME_PATTERN, 'u'), 'must not contain path separators or control characters, nor be blank, . or ..')
      .refine((s) => !hasLoneSurrogate(s), 'must not contain unpaired surrogates')
      .refine((s) => [...s.trim()].length <= MAX_FILENAME_LENGTH, `must be at most ${MAX_FILENAME_LENGTH} characters`)
      .meta({ maxLength: MAX_FILENAME_LENGTH }),
    external_id: printable(255),
    content_type: printable(255).optional(),
    file_size: fileSize.optional(),
    sha256: sha256Hex.optional(),
    /** true: upload in parts whatever the size; false: a presigned POST. Unset: the server's threshold decides. */
    multipart: z.boolean().optional(),
  })
  .refine((r) => r.multipart !== true || r.file_size !== undefined, {
    path: ['file_size'],
    message: 'is required for a multipart upload',
  })
  // The refinement above, for the document (zod cannot render a refinement).
  .meta({ if: { properties: { multipart: { const: true } }, required: ['multipart'] }, then: { required: ['file_size'] } })
export type PresignRequest = z.infer<typeof presignRequest>

/** One upload, or a batch of them (a folder's worth) in one request. */
export const presignBody = z.union([
  presignRequest,
  z.object({ uploads: z.array(presignRequest).min(1).max(MAX_PRESIGN_BATCH) }),
])
export type PresignBody = z.infer<typeof presignBody>

const uploadCommon = {
  file_id: z.uuid(),
  expires_at: z.iso.datetime(),
  max_file_size: z.number().int(),
}

export const presignResponse = z.discriminatedUnion('upload_type', [
  z.object({
    ...uploadCommon,
    upload_type: z.literal('post'),
    upload_url: z.url(),
    form_fields: z.record(z.string(), z.string()),
  }),
  z.object({
    ...uploadCommon,
    upload_type: z.literal('multipart'),
    part_size: z.number().int().positive(),
    part_count: z.number().int().min(1).max(S3_MAX_PARTS),
  }),
])

const partNumber = z.number().int().min(1).max(S3_MAX_PARTS)
export const MAX_PARTS_PER_REQUEST = 100

export const signPartsRequest = z
  .object({
    part_numbers: z
      .array(partNumber)
      .min(1)
      .max(MAX_PARTS_PER_REQUEST)
      .refine((n) => new Set(n).size === n.length, 'part numbers must be distinct')
      .meta({ uniqueItems: true }),
    // Optional per-part digests: each is signed into its part's URL, so storage refuses other bytes for that part.
    // A digest for a part not asked for is unused (a refusal could not be stated in the OpenAPI document).
    sha256: z.record(z.string().regex(/^[1-9][0-9]{0,4}$/, 'must be a part number'), sha256Hex).optional(),
  })
export type SignPartsRequest = z.infer<typeof signPartsRequest>

export const signPartsResponse = z.object({
  parts: z.array(
    z.object({
      part_number: partNumber,
      size: z.number().int().positive(),
      url: z.url(),
      expires_at: z.iso.datetime(),
      /** Headers the PUT must carry exactly as given (signed into the URL). */
      headers: z.record(z.string(), z.string()),
    }),
  ),
})

export const listPartsResponse = z.object({
  part_size: z.number().int().positive(),
  part_count: z.number().int().min(1).max(S3_MAX_PARTS),
  parts: z.array(z.object({ part_number: partNumber, size: z.number().int().nonnegative(), etag: z.string() })),
})

const itemError = z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() })

/** `files` holds the uploads of the items that succeeded, in request order; `failed` the others by index. */
export const presignBatchResponse = z.object({
  files: z.array(presignResponse),
  failed: z.array(z.object({ index: z.number().int().min(0), error: itemError })),
})

const confirmItem = z.object({ file_id: fileId, file_size: fileSize })

export const confirmRequest = z.union([
  confirmItem,
  z.object({
    uploads: z
      .array(confirmItem)
      .min(1)
      .max(MAX_CONFIRM_BATCH),
  }),
])
export type ConfirmRequest = z.infer<typeof confirmRequest>
export type ConfirmItem = z.infer<typeof confirmItem>

export const fileIdParams = z.object({ id: fileId })

export const listQuery = z.object({
  // Empty means no filter, as a blank search box does; presign never stores an empty external id.
  external_id: printable(255, 0)
    .optional()
    .transform((s) => (s === '' ? undefined : s)),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  // `<created_at, microseconds since the epoch>.<file id>`: a keyset position, not a secret; the owner filter still
  // applies. Sixteen digits reach the year 2286.
  cursor: z
    .string()
    .regex(/^[0-9]{1,16}\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a next_cursor from this API')
    .optional(),
})
export type ListQuery = z.infer<typeof listQuery>

// DELETED never reaches an HTTP answer (404), but it is the status a `file.deleted` event carries.
export const fileStatus = z.enum(['PENDING', 'UPLOADED', 'SYNCING', 'SYNCED', 'FAILED', 'QUARANTINED', 'EXPIRED', 'DELETED'])

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
  /** While SYNCING: bytes hashed so far. */
  hashed_bytes: z.number().int().min(0).optional(),
})

export const confirmResponse = z.object({
  confirmed: z.number().int(),
  files: z.array(z.object({ file_id: z.uuid(), status: fileStatus })),
  failed: z.array(
    z.object({ file_id: z.string(), error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) }),
  ),
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

export const webhookView = z.object({
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
