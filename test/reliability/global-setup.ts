import { hostname, cpus } from 'node:os'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { ensureDatabase } from '../../bin/local/database.js'
import { provision } from '../../localstack/provision.js'
import { installAudit } from './support/audit.js'
import { applyReliabilityEnvironment, FULL } from './support/env.js'
import { benchDir, HOW_TO, renderReport, resetResults, root } from './support/report.js'

/** A fresh reliability database with the real migrations and the audit trigger; the report on teardown. */
export default async function setup(): Promise<() => void> {
  const startedAt = new Date()
  applyReliabilityEnvironment()
  resetResults()
  await ensureDatabase(process.env.DATABASE_URL!, { fresh: true })
  const { createDb, migrateToLatest } = await import('../../functions/core/db.js')
  const db = createDb({ databaseUrl: process.env.DATABASE_URL!, databasePoolMax: 1 })
  try {
    await migrateToLatest(db)
    await installAudit(db)
  } finally {
    await db.destroy()
  }
  await provision({ env: process.env })

  return () => {
    const machine = `${hostname()} (${cpus().length} vCPU, Node ${process.version})`
    const body = renderReport({ full: FULL, startedAt, finishedAt: new Date(), machine })
    writeFileSync(join(benchDir, 'RELIABILITY.md'), body + HOW_TO)
    // Only the full run rewrites the tracked document, so `npm test` leaves the work tree clean.
    if (FULL) writeFileSync(join(root, 'docs', 'RELIABILITY.md'), body + HOW_TO)
  }
}
