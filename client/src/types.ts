/**
 * The wire types, inferred from the API's own zod schemas: the validator, the OpenAPI document and this client
 * cannot drift apart. Type-only imports: neither zod nor server code reaches the library's runtime.
 */
import type { z } from 'zod'
import type * as schemas from '../../functions/core/schemas.js'

/** What `POST /files/presigned-upload` accepts for one file. */
export type PresignItem = z.input<typeof schemas.presignRequest>
/** A presigned upload: a form POST to storage, or a multipart upload with its part plan. */
export type Upload = z.output<typeof schemas.presignResponse>
export type PostUpload = Extract<Upload, { upload_type: 'post' }>
export type MultipartUpload = Extract<Upload, { upload_type: 'multipart' }>
export type PresignBatchResult = z.output<typeof schemas.presignBatchResponse>

export type SignedPart = z.output<typeof schemas.signPartsResponse>['parts'][number]
export type PartsListing = z.output<typeof schemas.listPartsResponse>
export type StoredPart = PartsListing['parts'][number]

export type ConfirmItem = z.input<typeof schemas.confirmRequest> extends infer U ? Exclude<U, { uploads: unknown }> : never
export type ConfirmResult = z.output<typeof schemas.confirmResponse>

export type FileStatus = z.output<typeof schemas.fileStatus>
export type FileView = z.output<typeof schemas.fileView>
export type GetFileResult = z.output<typeof schemas.getFileResponse>
export type ListResult = z.output<typeof schemas.listResponse>

export type CreateWebhookInput = z.input<typeof schemas.createWebhookRequest>
export type CreatedWebhook = z.output<typeof schemas.createWebhookResponse>
export type Webhook = z.output<typeof schemas.listWebhooksResponse>['webhooks'][number]
export type WebhookDelivery = z.output<typeof schemas.deliveriesResponse>['deliveries'][number]
export type RotatedSecret = z.output<typeof schemas.rotateSecretResponse>

/** The API's error body: `{error: {code, message, details?}}`. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown }
}

/** Statuses a file does not leave on its own: `waitUntilSettled` stops at them. */
export const SETTLED_STATUSES = ['SYNCED', 'FAILED', 'QUARANTINED', 'EXPIRED', 'DELETED'] as const satisfies readonly FileStatus[]
export type SettledStatus = (typeof SETTLED_STATUSES)[number]
export const isSettled = (status: FileStatus): status is SettledStatus => (SETTLED_STATUSES as readonly string[]).includes(status)
