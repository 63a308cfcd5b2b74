import { z } from 'zod'

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
export const MAX_PRESIGN_BATCH = 100

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

/** One upload, or a batch of them (a folder's worth) in one request. */
export const presignBody = z.union([
  presignRequest,
  z.object({ uploads: z.array(presignRequest).min(1).max(MAX_PRESIGN_BATCH) }),
])
export type PresignBody = z.infer<typeof presignBody>

export const presignResponse = z.object({
  file_id: z.uuid(),
  upload_url: z.url(),
  form_fields: z.record(z.string(), z.string()),
  expires_at: z.iso.datetime(),
  max_file_size: z.number().int(),
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
