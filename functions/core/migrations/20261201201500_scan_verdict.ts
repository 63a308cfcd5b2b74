import { type Kysely, sql } from 'kysely'

// A verdict that arrives on its own (GuardDuty's result event) waits here for the hash, or the hash for it.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('files')
    .addColumn('scan_verdict', 'text', (col) => col.check(sql`scan_verdict in ('CLEAN', 'INFECTED', 'UNSCANNABLE')`))
    .addColumn('scan_detail', 'text')
    .addColumn('scan_version_id', 'text')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('files').dropColumn('scan_verdict').dropColumn('scan_detail').dropColumn('scan_version_id').execute()
}
