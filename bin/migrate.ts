/** `npm run migrate`: creates the local database if needed and applies every pending migration. */
import { bootstrapDatabase } from './local/database.js'
import { applyLocalEnvironment } from './local/environment.js'

applyLocalEnvironment()
const applied = await bootstrapDatabase(process.env.DATABASE_URL!)
console.log(applied.length ? `applied: ${applied.join(', ')}` : 'the database is up to date')
