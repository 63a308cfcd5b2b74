/** `npm run migrate`: creates the local database if needed and applies every pending migration. */
import { ensureDatabase } from './local/database.js'
import { applyLocalEnvironment } from './local/environment.js'

applyLocalEnvironment()
await ensureDatabase(process.env.DATABASE_URL!)
const { createDb, migrateToLatest } = await import('../functions/core/db.js')
const db = createDb({ databaseUrl: process.env.DATABASE_URL!, databasePoolMax: 1 })
try {
  const applied = await migrateToLatest(db)
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'the database is up to date')
} finally {
  await db.destroy()
}
