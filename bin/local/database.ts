import pg from 'pg'

/**
 * Creates the database named in `url` when it does not exist (or, with `fresh`, drops and recreates
 * it), connecting to the server's `postgres` database to do so.
 */
export async function ensureDatabase(url: string, options: { fresh?: boolean } = {}): Promise<void> {
  const target = new URL(url)
  const name = decodeURIComponent(target.pathname.slice(1))
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`unsupported database name "${name}"`)
  const admin = new URL(url)
  admin.pathname = '/postgres'
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    if (options.fresh) await client.query(`drop database if exists ${name} with (force)`)
    const exists = await client.query('select 1 from pg_database where datname = $1', [name])
    if (exists.rowCount === 0) await client.query(`create database ${name}`)
  } finally {
    await client.end()
  }
}
