import { Signer } from '@aws-sdk/rds-signer'
import {
  Kysely,
  Migrator,
  PostgresDialect,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import pg from 'pg'
import type { Config } from './config.js'
import type { Database } from './database.js'
import { DependencyUnavailableError } from './errors.js'
import { migrationProvider } from './migrations/index.js'

type DbConfig = Pick<Config, 'databaseUrl' | 'databasePoolMax'> & Partial<Pick<Config, 'databaseIamAuth' | 'region'>>

/**
 * Where and how to connect. With IAM auth (RDS Proxy on AWS) each new connection gets a fresh
 * 15-minute token signed locally from the function's role: no password is stored anywhere, and
 * rotating the database secret never touches the functions.
 */
export function poolConnection(config: DbConfig): pg.PoolConfig {
  if (!config.databaseIamAuth) return { connectionString: config.databaseUrl }
  const url = new URL(config.databaseUrl)
  const port = Number(url.port || 5432)
  const user = decodeURIComponent(url.username)
  // Not `connectionString`: pg would parse its empty password over the token callback.
  const signer = new Signer({ hostname: url.hostname, port, username: user, ...(config.region ? { region: config.region } : {}) })
  return {
    host: url.hostname,
    port,
    user,
    database: decodeURIComponent(url.pathname.slice(1)),
    ssl: { rejectUnauthorized: true },
    password: () => signer.getAuthToken(),
  }
}

export function createDb(
  config: DbConfig,
  onConnectionError: (error: Error) => void = () => undefined,
): Kysely<Database> {
  return new Kysely<Database>({
    dialect: new UnavailabilityNormalisingDialect({
      // The pool is created on first use, so importing a handler opens no connection.
      pool: async () => {
        const pool = new pg.Pool({
          ...poolConnection(config),
          max: config.databasePoolMax,
          // A request must not hang while the database is away: fail and answer 503 instead.
          connectionTimeoutMillis: 5_000,
          idleTimeoutMillis: 60_000,
          statement_timeout: 15_000,
          query_timeout: 20_000,
          application_name: 'upload-pipeline',
        })
        // When the server restarts or fails over, every open connection emits 'error': an idle one on the
        // pool, a checked-out one (e.g. inside a transaction waiting on SQS) on its client. Unhandled, either
        // event kills the process (found by test/reliability, scenario 8); handled, the query in flight
        // fails (503), the pool drops the broken client and the next query connects again.
        pool.on('error', onConnectionError)
        pool.on('connect', (client) => client.on('error', onConnectionError))
        return pool
      },
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

const normalised = (error: unknown): unknown =>
  isDatabaseUnavailable(error) ? new DependencyUnavailableError('database', { cause: error }) : error

async function guarded<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation()
  } catch (error) {
    throw normalised(error)
  }
}

class NormalisingConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return guarded(() => this.inner.executeQuery<R>(query))
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(query, chunkSize)
    } catch (error) {
      throw normalised(error)
    }
  }
}

/**
 * Postgres being unreachable, restarting or failing over surfaces as `DependencyUnavailableError('database')`,
 * here where the pool lives, as storage.ts and queue.ts do for S3 and SQS: callers and the HTTP edge see one
 * error type for "retry later", and query errors (constraint violations, bad SQL) pass through untouched.
 * The pg driver keeps private state on its own connection objects (release, discard after a failed rollback),
 * so every call hands it back the connection it made, never the wrapper.
 */
class NormalisingDriver implements Driver {
  constructor(private readonly inner: Driver) {}

  init(): Promise<void> {
    return guarded(() => this.inner.init())
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    return new NormalisingConnection(await guarded(() => this.inner.acquireConnection()))
  }
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return guarded(() => this.inner.beginTransaction(unwrap(connection), settings))
  }
  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return guarded(() => this.inner.commitTransaction(unwrap(connection)))
  }
  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return guarded(() => this.inner.rollbackTransaction(unwrap(connection)))
  }
  savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return guarded(() => this.inner.savepoint!(unwrap(connection), name, compile))
  }
  rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return guarded(() => this.inner.rollbackToSavepoint!(unwrap(connection), name, compile))
  }
  releaseSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return guarded(() => this.inner.releaseSavepoint!(unwrap(connection), name, compile))
  }
  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(unwrap(connection))
  }
  destroy(): Promise<void> {
    return this.inner.destroy()
  }
}

const unwrap = (connection: DatabaseConnection): DatabaseConnection =>
  connection instanceof NormalisingConnection ? connection.inner : connection

class UnavailabilityNormalisingDialect extends PostgresDialect {
  override createDriver(): Driver {
    return new NormalisingDriver(super.createDriver())
  }
}
