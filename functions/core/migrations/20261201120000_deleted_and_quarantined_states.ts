import { type Kysely, sql } from 'kysely'

const BEFORE = ['PENDING', 'UPLOADED', 'SYNCING', 'SYNCED', 'FAILED', 'EXPIRED']
const AFTER = [...BEFORE, 'QUARANTINED', 'DELETED']

// The first migration's inline check got Postgres's default name.
const CHECK = 'files_status_check'

const statusIn = (statuses: readonly string[]) => sql`status in (${sql.join(statuses.map((s) => sql.lit(s)))})`

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('files').dropConstraint(CHECK).execute()
  await db.schema.alterTable('files').addCheckConstraint(CHECK, statusIn(AFTER)).execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('files').dropConstraint(CHECK).execute()
  await db.schema.alterTable('files').addCheckConstraint(CHECK, statusIn(BEFORE)).execute()
}
