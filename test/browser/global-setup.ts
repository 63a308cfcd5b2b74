import { ensureDatabase } from '../../bin/local/database.js'
import { provision } from '../../localstack/provision.js'
import { applyBrowserEnvironment } from './env.js'

/** A fresh browser-tier database with the real migrations, and its bucket and queues provisioned. */
export default async function setup(): Promise<void> {
  applyBrowserEnvironment()
  await ensureDatabase(process.env.DATABASE_URL!, { fresh: true })
  const { createDb, migrateToLatest } = await import('../../functions/core/db.js')
  const db = createDb({ databaseUrl: process.env.DATABASE_URL!, databasePoolMax: 1 })
  try {
    await migrateToLatest(db)
  } finally {
    await db.destroy()
  }
  await provision({ env: process.env })
}
