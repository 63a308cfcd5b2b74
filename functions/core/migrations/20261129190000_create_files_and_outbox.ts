import { type Kysely, sql } from 'kysely'

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('files')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text', (c) => c.notNull())
    .addColumn('filename', 'text', (c) => c.notNull())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('object_key', 'text', (c) => c.notNull().unique())
    .addColumn('declared_size', 'bigint', (c) => c.check(sql`declared_size > 0`))
    .addColumn('expected_sha256', 'char(64)')
    .addColumn('file_size', 'bigint', (c) => c.check(sql`file_size > 0`))
    .addColumn('sha256', 'char(64)')
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('PENDING')
        .check(sql`status in ('PENDING', 'UPLOADED', 'SYNCING', 'SYNCED', 'FAILED', 'EXPIRED')`),
    )
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('sync_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('upload_expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('uploaded_at', 'timestamptz')
    .addColumn('claimed_at', 'timestamptz')
    .addColumn('synced_at', 'timestamptz')
    .execute()

  // Listing: an owner's files, optionally by external id, newest first with a stable tiebreak.
  await db.schema
    .createIndex('files_owner_external_created_idx')
    .on('files')
    .columns(['owner_id', 'external_id', 'created_at desc', 'id desc'])
    .execute()
  await db.schema
    .createIndex('files_owner_created_idx')
    .on('files')
    .columns(['owner_id', 'created_at desc', 'id desc'])
    .execute()
  // The sweeper only ever looks at unfinished files; partial indexes keep that cheap as SYNCED rows pile up.
  await db.schema
    .createIndex('files_pending_expiry_idx')
    .on('files')
    .column('upload_expires_at')
    .where(sql.ref('status'), '=', 'PENDING')
    .execute()
  await db.schema
    .createIndex('files_in_flight_idx')
    .on('files')
    .columns(['status', 'updated_at'])
    .where(sql.ref('status'), 'in', ['UPLOADED', 'SYNCING'])
    .execute()

  await db.schema
    .createTable('outbox')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('file_id', 'uuid', (c) => c.notNull().references('files.id').onDelete('cascade'))
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('published_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .execute()

  // The relay claims by "unpublished and due", never by an id high-water mark, so a row committed
  // after higher ids were published is still found.
  await db.schema
    .createIndex('outbox_unpublished_idx')
    .on('outbox')
    .columns(['next_attempt_at', 'id'])
    .where(sql.ref('published_at'), 'is', null)
    .execute()
  await db.schema
    .createIndex('outbox_published_at_idx')
    .on('outbox')
    .column('published_at')
    .where(sql.ref('published_at'), 'is not', null)
    .execute()
  await db.schema.createIndex('outbox_file_id_idx').on('outbox').column('file_id').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('outbox').execute()
  await db.schema.dropTable('files').execute()
}
