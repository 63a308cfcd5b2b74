import { hostname, cpus } from 'node:os'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import pg from 'pg'
import { ensureDatabase } from '../../bin/local/database.js'
import { provision } from '../../localstack/provision.js'
import { installAudit } from './support/audit.js'
import { applyReliabilityEnvironment, FULL } from './support/env.js'
import { benchDir, HOW_TO, renderReport, resetResults, root } from './support/report.js'

/** A fresh reliability database with the real migrations and the audit trigger; the report on teardown. */
export default async function setup(): Promise<() => Promise<void>> {
  const startedAt = new Date()
  process.env.RELIABILITY_RUN_ID ??= `${process.pid}_${Date.now().toString(36)}`
  // Every project's global setup shares this process: work on a copy, so the other tiers' workers
  // do not inherit the reliability settings (their setup files only fill in what is unset).
  const env: NodeJS.ProcessEnv = { ...process.env }
  applyReliabilityEnvironment(env)
  resetResults()
  await ensureDatabase(env.DATABASE_URL!, { fresh: true })
  const { createDb, migrateToLatest } = await import('../../functions/core/db.js')
  const db = createDb({ databaseUrl: env.DATABASE_URL!, databasePoolMax: 1 })
  try {
    await migrateToLatest(db)
    await installAudit(db)
  } finally {
    await db.destroy()
  }
  await provision({ env })

  return async () => {
    await dropDatabase(env.DATABASE_URL!).catch(() => undefined)
    const machine = `${hostname()} (${cpus().length} vCPU, Node ${process.version})`
    const body = renderReport({ full: FULL, startedAt, finishedAt: new Date(), machine })
    writeFileSync(join(benchDir, 'RELIABILITY.md'), body + HOW_TO)
    // Only the full run rewrites the tracked document, so `npm test` leaves the work tree clean.
    if (FULL) writeFileSync(join(root, 'docs', 'RELIABILITY.md'), body + HOW_TO)
  }
}

async function dropDatabase(url: string): Promise<void> {
  const target = new URL(url)
  const name = decodeURIComponent(target.pathname.slice(1))
  if (!/^upload_pipeline_reliability_[a-z0-9_]+$/.test(name)) return
  target.pathname = '/postgres'
  const client = new pg.Client({ connectionString: target.toString(), connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    await client.query(`drop database if exists ${name} with (force)`)
  } finally {
    await client.end()
  }
}
