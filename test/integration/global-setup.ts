import { provision } from '../../localstack/provision.js'
import { ensureDatabase } from '../../bin/local/database.js'
import { applyTestEnvironment } from '../fixtures/env.js'

/** A fresh test database with the real migrations, and the test bucket and queues provisioned. */
export default async function setup(): Promise<void> {
  applyTestEnvironment()
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
