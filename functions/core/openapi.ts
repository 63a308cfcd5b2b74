import { z } from 'zod'
import { S3_MAX_POST_SIZE } from './aws-limits.js'
import type { ErrorCode } from './errors.js'
import { ERROR_STATUS } from './middleware/http-errors.js'
import {
  confirmRequest,
  confirmResponse,
  fileIdParams,
  getFileResponse,
  healthResponse,
  listPartsResponse,
  listQuery,
  listResponse,
  presignBatchResponse,
  presignBody,
  presignResponse,
  signPartsRequest,
  signPartsResponse,
  createWebhookRequest,
  createWebhookResponse,
  deliveriesResponse,
  listWebhooksResponse,
  rotateSecretResponse,
  webhookIdParams,
  webhookView,
} from './schemas.js'

/** The parts of a route-table entry the document needs; `lib/routes.ts` entries satisfy it. */
export interface DocumentedRoute {
  readonly id: string
  readonly method: string
  readonly path: string
  readonly public?: boolean
}

type JsonSchema = Record<string, unknown>

interface OperationSpec {
  summary: string
  description?: string
  body?: z.ZodType
  query?: z.ZodObject
  params?: z.ZodObject
  /** No `schema`: the answer has no body (204). */
  success: { status: number; description: string; schema?: z.ZodType; headers?: Record<string, string> }
  /** Other documented non-error answers, such as /health's 503 report. */
  also?: { status: number; description: string; schema: z.ZodType }[]
  errors: ErrorCode[]
  /** The request body's single-item form takes the deployment's upload limits (see `withLimits`). */
  limited?: boolean
}

// Every authenticated route can answer these; the middleware renders them, not the handler.
const COMMON_ERRORS: ErrorCode[] = ['UNAUTHORIZED', 'INTERNAL', 'SERVICE_UNAVAILABLE']

/**
 * What the document says about each route, keyed by route id. The schemas are the ones the handlers
 * validate with, so the document cannot describe a request the API would refuse.
 */
const OPERATIONS: Record<string, OperationSpec> = {
  PresignUpload: {
    summary: 'Register a file and get how to upload it: a presigned POST, or a multipart upload in parts',
    description:
      '`upload_type: "post"`: a multipart/form-data POST to `upload_url` with every entry of `form_fields`, then the ' +
      '`file` part last. Storage enforces the key, size range, Content-Type, expiry and a declared `sha256`; it answers ' +
      '204. `upload_type: "multipart"` (with `multipart: true`, or a `file_size` above the server\'s threshold): the ' +
      'server has started the storage upload; sign part URLs with `POST /files/{id}/parts`, PUT exactly `size` bytes ' +
      'to each, then confirm. The `{uploads: [...]}` form (1-100) answers 200 with per-item results. The rate limit ' +
      'counts files: a batch is charged one per valid item.',
    body: presignBody,
    success: { status: 201, description: 'The file is PENDING until confirmed', schema: presignResponse },
    also: [{ status: 200, description: 'A batch: the presigned items in request order, the others by index', schema: presignBatchResponse }],
    limited: true,
    errors: ['VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'RATE_LIMITED', ...COMMON_ERRORS],
  },
  ConfirmUploads: {
    summary: 'Confirm uploaded files (one, or a batch of 1-100)',
    description:
      'A single `{file_id, file_size}` answers with the error status of its failure; the `{uploads: [...]}` form ' +
      'always answers 200 with per-item results. Confirming again succeeds and changes nothing.',
    body: confirmRequest,
    success: { status: 200, description: 'Confirmed files move to UPLOADED and are queued for hashing', schema: confirmResponse },
    errors: [
      'VALIDATION_FAILED',
      'FILE_NOT_FOUND',
      'UPLOAD_NOT_FOUND',
      'SIZE_MISMATCH',
      'INVALID_STATE',
      'UPLOAD_INCOMPLETE',
      'PAYLOAD_TOO_LARGE',
      ...COMMON_ERRORS,
    ],
  },
  SignParts: {
    summary: 'Presigned URLs for parts of a multipart upload (1-100 per request, any number of times)',
    description:
      'Each `url` takes one `PUT` of exactly `size` bytes (the length is signed in) with every header in `headers`; ' +
      'storage answers 200 with an `ETag`. URLs are short-lived: ask again for fresh ones. A part\'s optional ' +
      '`sha256` (hex) is signed in as `x-amz-checksum-sha256`, so storage refuses other bytes for that part.',
    params: fileIdParams,
    body: signPartsRequest,
    success: { status: 200, description: 'One signed URL per requested part', schema: signPartsResponse },
    errors: ['VALIDATION_FAILED', 'FILE_NOT_FOUND', 'INVALID_STATE', 'PAYLOAD_TOO_LARGE', ...COMMON_ERRORS],
  },
  ListParts: {
    summary: 'The parts storage already holds for a multipart upload, to resume it',
    params: fileIdParams,
    success: { status: 200, description: 'Every stored part, across all of storage\'s pages', schema: listPartsResponse },
    errors: ['VALIDATION_FAILED', 'FILE_NOT_FOUND', 'INVALID_STATE', 'UPLOAD_NOT_FOUND', ...COMMON_ERRORS],
  },
  ListFiles: {
    summary: "List the caller's files, newest first",
    query: listQuery,
    success: { status: 200, description: 'One page; pass `next_cursor` as `cursor` for the next', schema: listResponse },
    errors: ['VALIDATION_FAILED', ...COMMON_ERRORS],
  },
  GetFile: {
    summary: "A file's metadata and, once SYNCED, its content or a download URL",
    description:
      '`content` is set only for SYNCED files no larger than the inline cap: UTF-8 text for text types, base64 ' +
      'otherwise. Larger confirmed files get a short-lived presigned GET in `download_url`.',
    params: fileIdParams,
    success: {
      status: 200,
      description: 'The file',
      schema: getFileResponse,
      headers: { 'X-Cache': 'HIT or MISS: where the inline content came from (absent when there is none)' },
    },
    errors: ['VALIDATION_FAILED', 'FILE_NOT_FOUND', ...COMMON_ERRORS],
  },
  CreateWebhook: {
    summary: 'Register a webhook endpoint',
    description:
      'The URL must be http(s) without credentials and resolve only to public addresses. Deliveries follow Standard ' +
      'Webhooks; `secret` (whsec_...) is shown only in this response.',
    body: createWebhookRequest,
    success: { status: 201, description: 'Registered', schema: createWebhookResponse },
    errors: ['VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', ...COMMON_ERRORS],
  },
  ListWebhooks: {
    summary: "The caller's webhook endpoints, without secrets",
    success: { status: 200, description: 'Newest first', schema: listWebhooksResponse },
    errors: COMMON_ERRORS,
  },
  DeleteWebhook: {
    summary: 'Remove a webhook endpoint; its pending deliveries stop',
    params: webhookIdParams,
    success: { status: 204, description: 'Removed' },
    errors: ['VALIDATION_FAILED', 'WEBHOOK_NOT_FOUND', ...COMMON_ERRORS],
  },
  ListWebhookDeliveries: {
    summary: "An endpoint's delivery log, newest attempt first",
    params: webhookIdParams,
    success: { status: 200, description: 'Up to 100 attempts', schema: deliveriesResponse },
    errors: ['VALIDATION_FAILED', 'WEBHOOK_NOT_FOUND', ...COMMON_ERRORS],
  },
  RotateWebhookSecret: {
    summary: 'Rotate the signing secret',
    description: 'The new secret is shown once; until `previous_secret_expires_at` every delivery carries both signatures.',
    params: webhookIdParams,
    success: { status: 200, description: 'Rotated', schema: rotateSecretResponse },
    errors: ['VALIDATION_FAILED', 'WEBHOOK_NOT_FOUND', ...COMMON_ERRORS],
  },
  EnableWebhook: {
    summary: 'Re-enable a disabled webhook endpoint',
    description:
      'Clears `disabled_at` and `disabled_reason`, so the endpoint receives the events that follow. Events from while ' +
      'it was disabled are not sent again; the delivery log shows what failed. Enabling an enabled endpoint changes nothing.',
    params: webhookIdParams,
    success: { status: 200, description: 'The endpoint, enabled', schema: webhookView },
    errors: ['VALIDATION_FAILED', 'WEBHOOK_NOT_FOUND', ...COMMON_ERRORS],
  },
  DeleteFile: {
    summary: 'Delete a file from any state',
    description:
      'Removes the object (every version, any unfinished multipart upload), the cached content and the filename; ' +
      'the file becomes DELETED and a `file.deleted` event follows. Every route then answers 404 for it; deleting ' +
      'again answers 204.',
    params: fileIdParams,
    success: { status: 204, description: 'Deleted (or already deleted)' },
    errors: ['VALIDATION_FAILED', 'FILE_NOT_FOUND', ...COMMON_ERRORS],
  },
  Health: {
    summary: 'Dependency health',
    success: { status: 200, description: 'Every required dependency answers (the cache may be degraded)', schema: healthResponse },
    also: [{ status: 503, description: 'A required dependency is unavailable', schema: healthResponse }],
    errors: ['INTERNAL'],
  },
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  // OpenAPI 3.1 schemas are JSON Schema 2020-12, zod's default target; the dialect is set once at the top.
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema
  return rest
}

/** The error body for one status, with `code` narrowed to the codes this route answers it with. */
function errorSchema(codes: ErrorCode[]): JsonSchema {
  return {
    type: 'object',
    required: ['error'],
    additionalProperties: false,
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        additionalProperties: false,
        properties: {
          code: { type: 'string', enum: codes },
          message: { type: 'string' },
          details: { description: 'Machine-readable specifics, e.g. the failing fields of VALIDATION_FAILED' },
        },
      },
    },
  }
}

function parameters(where: 'query' | 'path', schema: z.ZodObject | undefined): JsonSchema[] {
  if (!schema) return []
  const object = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] }
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    schema: property,
  }))
}

// On AWS the HTTP API's JWT authorizer refuses the request before any function runs, with its own body.
const unauthorized = {
  description: 'UNAUTHORIZED: no valid bearer token. API Gateway\'s JWT authorizer answers `{"message": "Unauthorized"}`.',
  headers: { 'WWW-Authenticate': { description: 'Bearer', schema: { type: 'string' } } },
  content: {
    'application/json': {
      schema: {
        anyOf: [
          errorSchema(['UNAUTHORIZED']),
          { type: 'object', required: ['message'], additionalProperties: false, properties: { message: { const: 'Unauthorized' } } },
        ],
      },
    },
  },
}

const retryAfter = { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } } }

/** The deployment's upload limits; without them the document gives only what the schemas fix. */
export interface DocumentedLimits {
  maxFileSize: number
  allowedContentTypes: readonly string[]
}

/**
 * Writes the configured limits into a request schema, so a single request the document allows is one
 * the API accepts: `file_size` gets its maximum and `content_type` the allow-list. Batch items stay
 * as they are: a batch answers 200 whatever its items hold, with an item over a limit in `failed`.
 */
function withLimits(schema: JsonSchema, limits: DocumentedLimits | undefined): JsonSchema {
  if (!limits) return schema
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit)
    if (!node || typeof node !== 'object') return node
    const out: JsonSchema = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === 'uploads' ? v : visit(v)]))
    const properties = out.properties as Record<string, JsonSchema> | undefined
    if (properties?.file_size) properties.file_size = { ...properties.file_size, maximum: limits.maxFileSize }
    if (properties?.multipart) {
      // `multipart: false` is a presigned POST, which S3 caps below the multipart maximum.
      out.allOf = [
        ...((out.allOf as unknown[]) ?? []),
        {
          if: { properties: { multipart: { const: false } }, required: ['multipart'] },
          then: { properties: { file_size: { type: 'integer', maximum: Math.min(limits.maxFileSize, S3_MAX_POST_SIZE) } } },
        },
      ]
    }
    if (properties?.content_type) {
      const { pattern: _free, maxLength: _any, ...rest } = properties.content_type
      properties.content_type = { ...rest, enum: [...limits.allowedContentTypes] }
    }
    return out
  }
  return visit(schema) as JsonSchema
}

function operation(route: DocumentedRoute, spec: OperationSpec, limits?: DocumentedLimits): JsonSchema {
  const responses: Record<string, JsonSchema> = {
    [spec.success.status]: {
      description: spec.success.description,
      ...(spec.success.headers && {
        headers: Object.fromEntries(
          Object.entries(spec.success.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }]),
        ),
      }),
      ...(spec.success.schema && { content: { 'application/json': { schema: jsonSchema(spec.success.schema, 'output') } } }),
    },
  }
  for (const other of spec.also ?? []) {
    responses[other.status] = { description: other.description, content: { 'application/json': { schema: jsonSchema(other.schema, 'output') } } }
  }
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of spec.errors) {
    if (route.public && code === 'UNAUTHORIZED') continue
    byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code])
  }
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    if (responses[status]) continue
    responses[status] =
      status === 401
        ? unauthorized
        : {
            description: codes.join(', '),
            ...((status === 429 || status === 503) && { headers: retryAfter }),
            content: { 'application/json': { schema: errorSchema(codes) } },
          }
  }
  const params = [...parameters('path', spec.params), ...parameters('query', spec.query)]
  return {
    operationId: route.id,
    summary: spec.summary,
    ...(spec.description && { description: spec.description }),
    ...(route.public && { security: [] }),
    ...(params.length > 0 && { parameters: params }),
    ...(spec.body && {
      requestBody: { required: true, content: { 'application/json': { schema: withLimits(jsonSchema(spec.body, 'input'), spec.limited ? limits : undefined) } } },
    }),
    responses,
  }
}

/**
 * The OpenAPI 3.1 description of the HTTP API, one operation per route of the route table,
 * generated from the zod schemas the handlers validate with. Throws for a route it has no
 * description of, so a new route cannot ship undocumented.
 */
export function openApiDocument(
  routes: readonly DocumentedRoute[],
  options: { serverUrl?: string; version?: string; limits?: DocumentedLimits } = {},
): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {}
  for (const route of routes) {
    const spec = OPERATIONS[route.id]
    if (!spec) throw new Error(`openapi: no operation described for route ${route.id} (${route.method} ${route.path})`)
    paths[route.path] = { ...paths[route.path], [route.method.toLowerCase()]: operation(route, spec, options.limits) }
  }
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Upload pipeline API',
      version: options.version ?? '1',
      description:
        'Presigned uploads straight to object storage, confirmed, hashed (SHA-256) and cached in the background. ' +
        'Errors are `{"error": {"code", "message", "details"?}}` with stable codes.',
    },
    ...(options.serverUrl && { servers: [{ url: options.serverUrl }] }),
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The token\'s `sub` owns the files' },
      },
    },
  }
}
