import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Deps } from '../../functions/core/deps.js'
import { ApiClient, tokenFor } from '../fixtures/pipeline.js'
import { confirmOnce, readBack, uploadMany, type Uploaded } from './support/api.js'
import { syncedTransitionAnomalies, truncateAll } from './support/audit.js'
import { sized } from './support/env.js'
import { mapConcurrent } from '../../functions/core/concurrency.js'
import { lostFiles, scenarioDeps, scenarioQueue, spawnWorker, waitFor } from './support/harness.js'
import { percentile, recordLoad } from './support/report.js'

let shared: Deps
beforeAll(async () => {
  shared = scenarioDeps()
  await truncateAll(shared.db)
})
afterAll(async () => {
  await shared.close()
})

describe('load through the HTTP API', () => {
  it('takes every file end to end to SYNCED with a verified hash', async () => {
    const count = sized(300, 2000)
    const concurrency = 32
    const queue = await scenarioQueue('load', 30)
    const child = spawnWorker('test/reliability/workers/runtime.ts', {
      FILES_QUEUE_URL: queue.queueUrl,
      RUNTIME_POLLERS: '8',
      DATABASE_POOL_MAX: '20',
    })
    try {
      const { url } = (await child.ready) as { url: string }
      const api = new ApiClient(url, await tokenFor('load'))
      const started = Date.now()
      const files: Uploaded[] = []
      // Each client does the whole client path: presign, POST to storage, confirm.
      await mapConcurrent(Array.from({ length: count }, (_, i) => i), concurrency, async () => {
        const [file] = await uploadMany(api, 1, 1, () => 1024 + Math.floor(Math.random() * 15 * 1024))
        const answer = await confirmOnce(api, file!)
        if (answer.status !== 200) throw new Error(`confirm answered ${answer.status} ${answer.code}`)
        files.push(file!)
      })
      await waitFor('every file SYNCED', async () => (await lostFiles(shared, files)).length === 0, 600_000, 500)
      const seconds = (Date.now() - started) / 1000

      const verified = await mapConcurrent(files, concurrency, async (f) => {
        const read = await readBack(api, f.id)
        return read.status === 200 && read.fileStatus === 'SYNCED' && read.sha256 === f.sha256
      })
      const { rows } = await sql<{ ms: string }>`
        select extract(epoch from (synced_at - uploaded_at)) * 1000 as ms from files where status = 'SYNCED'`.execute(shared.db)
      const latencies = rows.map((r) => Math.round(Number(r.ms))).sort((a, b) => a - b)
      const lost = await lostFiles(shared, files)
      expect(files.length).toBe(count)
      expect(lost).toEqual([])
      expect(verified.filter(Boolean).length).toBe(count)
      expect(latencies.length).toBe(count)
      expect(await syncedTransitionAnomalies(shared.db)).toEqual([])
      recordLoad({
        files: count,
        concurrency,
        seconds,
        throughput: count / seconds,
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        max: latencies.at(-1)!,
        lost: lost.length,
        hashesVerified: verified.filter(Boolean).length,
      })
    } finally {
      await child.kill('SIGTERM')
    }
  })
})
