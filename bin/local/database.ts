import type { Kysely } from 'kysely'
import pg from 'pg'
import { createDb, migrateToLatest } from '../../functions/core/db.js'

/** What the server-level statements below may name: an unquoted identifier, so nothing can be injected. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** Runs `work` on a connection to the server's `postgres` database, for statements about `url`'s database. */
async function withServer(url: string, work: (client: pg.Client, name: string) => Promise<void>): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1))
  if (!DATABASE_NAME.test(name)) throw new Error(`unsupported database name "${name}"`)
  const admin = new URL(url)
  admin.pathname = '/postgres'
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    await work(client, name)
  } finally {
    await client.end()
  }
}

/** Creates the database named in `url` when it does not exist (or, with `fresh`, drops and recreates it). */
export function ensureDatabase(url: string, options: { fresh?: boolean } = {}): Promise<void> {
  return withServer(url, async (client, name) => {
    if (options.fresh) await client.query(`drop database if exists ${name} with (force)`)
    const exists = await client.query('select 1 from pg_database where datname = $1', [name])
    if (exists.rowCount === 0) await client.query(`create database ${name}`)
  })
}

/** Drops the database named in `url`, closing its sessions; nothing happens when it does not exist. */
export function dropDatabase(url: string): Promise<void> {
  return withServer(url, async (client, name) => {
    await client.query(`drop database if exists ${name} with (force)`)
  })
}

/**
 * The one database bootstrap of `npm start`, `npm run migrate`, the test tiers and the benchmarks: creates the
 * database (fresh, if asked), applies every migration, runs `then` on the migrated database (the reliability
 * suite's audit trigger), over one connection that is closed before it returns. Returns the migrations applied.
 */
export async function bootstrapDatabase(
  url: string,
  options: { fresh?: boolean; then?: (db: Kysely<any>) => Promise<void> } = {},
): Promise<string[]> {
  await ensureDatabase(url, options)
  const db = createDb({ databaseUrl: url, databasePoolMax: 1 })
  try {
    const applied = await migrateToLatest(db)
    await options.then?.(db)
    return applied
  } finally {
    await db.destroy()
  }
}
