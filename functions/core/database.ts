import type { ColumnType, Insertable, Selectable } from 'kysely'

/** The schema as TypeScript sees it. Migrations in ./migrations are the only DDL. */
export interface Database {
  files: FilesTable
  outbox: OutboxTable
  webhooks: WebhooksTable
  webhook_deliveries: WebhookDeliveriesTable
  webhook_attempts: WebhookAttemptsTable
}

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
// pg returns int8 as a string; sizes stay below 2^53 (S3's 48.8 TiB object maximum), so the adapter converts them.
type NullableInt8 = ColumnType<string | null, number | bigint | string | null | undefined, number | bigint | string | null>

export type FileStatus =
  | 'PENDING'
  | 'UPLOADED'
  | 'SYNCING'
  | 'SYNCED'
  | 'FAILED'
  /** The scanner found malware: kept for review, never served. */
  | 'QUARANTINED'
  /** Never confirmed before its upload expired. */
  | 'EXPIRED'
  /** Deleted by its owner: a tombstone without the object, the cache entry or the filename. */
  | 'DELETED'

export interface FilesTable {
  id: string
  owner_id: string
  external_id: string
  filename: string
  content_type: string
  object_key: string
  declared_size: NullableInt8
  expected_sha256: string | null
  file_size: NullableInt8
  sha256: string | null
  status: ColumnType<FileStatus, FileStatus | undefined, FileStatus>
  error_code: string | null
  error_message: string | null
  sync_attempts: ColumnType<number, number | undefined, number>
  upload_expires_at: Timestamp
  created_at: Timestamp
  updated_at: Timestamp
  uploaded_at: NullableTimestamp
  claimed_at: NullableTimestamp
  synced_at: NullableTimestamp
  /** A verdict that arrived on its own (GuardDuty), for `scan_version_id` of the object. */
  scan_verdict: ScanVerdictColumn | null
  scan_detail: string | null
  scan_version_id: string | null
  /** The storage multipart upload a large file is assembled from; null for a presigned POST. */
  upload_id: string | null
  part_size: NullableInt8
  part_count: number | null
  /** The storage version confirm recorded; null only for a bucket without versioning. */
  object_version_id: string | null
  hashed_bytes: ColumnType<string, number | bigint | string | undefined, number | bigint | string>
  hash_state: Buffer | null
  hash_state_tag: string | null
  /** When a DELETED file's object, parts and cache entry were last removed; null while still to do. */
  purged_at: NullableTimestamp
}

export type ScanVerdictColumn = 'CLEAN' | 'INFECTED' | 'UNSCANNABLE'

export interface OutboxTable {
  // bigserial: pg returns int8 as a string.
  id: ColumnType<string, never, never>
  file_id: string
  event_type: string
  payload: ColumnType<Record<string, unknown>, string, string>
  created_at: Timestamp
  attempts: ColumnType<number, number | undefined, number>
  next_attempt_at: Timestamp
  published_at: NullableTimestamp
  last_error: string | null
}

export interface WebhooksTable {
  id: string
  owner_id: string
  url: string
  /** null: every event type. */
  events: string[] | null
  description: string | null
  secret: string
  previous_secret: string | null
  previous_secret_expires_at: NullableTimestamp
  created_at: Timestamp
  disabled_at: NullableTimestamp
  disabled_reason: string | null
  deleted_at: NullableTimestamp
}

export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED'

export interface WebhookDeliveriesTable {
  id: ColumnType<string, never, never>
  webhook_id: string
  event_id: string
  event_type: string
  payload: ColumnType<Record<string, unknown>, string, string>
  status: ColumnType<DeliveryStatus, DeliveryStatus | undefined, DeliveryStatus>
  attempts: ColumnType<number, number | undefined, number>
  next_attempt_at: Timestamp
  created_at: Timestamp
  finished_at: NullableTimestamp
}

export interface WebhookAttemptsTable {
  id: ColumnType<string, never, never>
  delivery_id: string
  attempt: number
  status_code: number | null
  error: string | null
  at: Timestamp
}

export type FileRow = Selectable<FilesTable>
export type NewFileRow = Insertable<FilesTable>
export type OutboxRow = Selectable<OutboxTable>
