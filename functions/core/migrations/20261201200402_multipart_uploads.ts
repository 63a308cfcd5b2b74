import { type Kysely, sql } from 'kysely'

// A multipart file records the storage upload it is assembled from and the part plan it was given; a POST file none
// of the three.
const CHECK = 'files_multipart_plan_check'

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('files')
    .addColumn('upload_id', 'text')
    .addColumn('part_size', 'bigint', (c) => c.check(sql`part_size > 0`))
    .addColumn('part_count', 'integer', (c) => c.check(sql`part_count between 1 and 10000`))
    .execute()
  await db.schema
    .alterTable('files')
    .addCheckConstraint(
      CHECK,
      sql`(upload_id is null) = (part_size is null) and (upload_id is null) = (part_count is null) and (upload_id is null or declared_size is not null)`,
    )
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('files').dropConstraint(CHECK).execute()
  await db.schema.alterTable('files').dropColumn('upload_id').dropColumn('part_size').dropColumn('part_count').execute()
}
