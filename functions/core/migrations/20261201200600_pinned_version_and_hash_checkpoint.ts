import type { Kysely } from 'kysely'

// object_version_id: the storage version confirm saw, so every later read gets exactly those bytes.
// hashed_bytes, hash_state, hash_state_tag: the hash stage's checkpoint (state saved by the hasher, the
// offset it covers, and the hasher build it came from), so hashing resumes across invocations.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('files')
    .addColumn('object_version_id', 'text')
    .addColumn('hashed_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('hash_state', 'bytea')
    .addColumn('hash_state_tag', 'text')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('files')
    .dropColumn('object_version_id')
    .dropColumn('hashed_bytes')
    .dropColumn('hash_state')
    .dropColumn('hash_state_tag')
    .execute()
}
