import type { Migration, MigrationProvider } from 'kysely'
import * as createFilesAndOutbox from './20261129190000_create_files_and_outbox.js'
import * as deletedAndQuarantinedStates from './20261201120000_deleted_and_quarantined_states.js'
import * as pinnedVersionAndHashCheckpoint from './20261201200600_pinned_version_and_hash_checkpoint.js'
import * as multipartUploads from './20261201200402_multipart_uploads.js'
import * as eventsWebhooksDeletion from './20261201201500_events_webhooks_deletion.js'
import * as scanVerdict from './20261201201500_scan_verdict.js'

// Listed statically rather than read from disk so the migrate function works once bundled.
const migrations: Record<string, Migration> = {
  '20261129190000_create_files_and_outbox': createFilesAndOutbox,
  '20261201120000_deleted_and_quarantined_states': deletedAndQuarantinedStates,
  '20261201200600_pinned_version_and_hash_checkpoint': pinnedVersionAndHashCheckpoint,
  '20261201200402_multipart_uploads': multipartUploads,
  '20261201201500_events_webhooks_deletion': eventsWebhooksDeletion,
  '20261201201500_scan_verdict': scanVerdict,
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
}
