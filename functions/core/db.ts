import { Kysely, Migrator, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { Config } from './config.js'
import type { Database } from './database.js'
import { migrationProvider } from './migrations/index.js'

export function createDb(config: Pick<Config, 'databaseUrl' | 'databasePoolMax'>): Kysely<Database> {
  return new Kysely<Database>({
    dialect: new PostgresDialect({
      // The pool is created on first use, so importing a handler opens no connection.
      pool: async () =>
        new pg.Pool({
          connectionString: config.databaseUrl,
          max: config.databasePoolMax,
          // A request must not hang while the database is away: fail and answer 503 instead.
          connectionTimeoutMillis: 5_000,
          idleTimeoutMillis: 60_000,
          statement_timeout: 15_000,
          query_timeout: 20_000,
          application_name: 'upload-pipeline',
        }),
    }),
  })
}

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider })
  const { error, results } = await migrator.migrateToLatest()
  if (error) throw error
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-3])/
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'])

/** Whether an error means Postgres could not be reached or dropped us, rather than a bad query. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) return true
  return /timeout exceeded when trying to connect|Connection terminated|connection timeout|Client has encountered a connection error|terminating connection|Query read timeout/i.test(
    error.message,
  )
}
