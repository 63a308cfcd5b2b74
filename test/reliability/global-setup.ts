import { hostname, cpus } from 'node:os'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { bootstrapDatabase, dropDatabase } from '../../bin/local/database.js'
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
  await bootstrapDatabase(env.DATABASE_URL!, { fresh: true, then: installAudit })
  await provision({ env })

  return async () => {
    await dropRunDatabase(env.DATABASE_URL!).catch(() => undefined)
    const machine = `${hostname()} (${cpus().length} vCPU, Node ${process.version})`
    const body = renderReport({ full: FULL, startedAt, finishedAt: new Date(), machine })
    writeFileSync(join(benchDir, 'RELIABILITY.md'), body + HOW_TO)
    // Only the full run rewrites the tracked document, so `npm test` leaves the work tree clean.
    if (FULL) writeFileSync(join(root, 'docs', 'RELIABILITY.md'), body + HOW_TO)
  }
}

/** Only a run's own database: never one a mistaken environment might name. */
async function dropRunDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1))
  if (/^upload_pipeline_reliability_[a-z0-9_]+$/.test(name)) await dropDatabase(url)
}
