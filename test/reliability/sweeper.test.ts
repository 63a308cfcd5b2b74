import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { findFile } from '../../functions/core/files.repository.js'
import { relayOutbox } from '../../functions/core/outbox.js'
import { sweepFiles } from '../../functions/core/sweeper.js'
import { presignUpload } from '../../functions/core/presign.js'
import { mustBePost, postToStorage, startRuntime } from '../fixtures/pipeline.js'
import { syncedTransitionAnomalies } from './support/audit.js'
import { sized } from './support/env.js'
import { commitConfirmed, lostFiles, purgeQueue, scenarioDeps, scenarioQueue, seedUploads, sleep, waitFor, useSharedDeps } from './support/harness.js'
import { recordScenario, seconds } from './support/report.js'

const shared = useSharedDeps()

describe('the sweeper', () => {
  it('10: expires never-confirmed uploads (deleting their objects) and re-publishes files stuck in UPLOADED', async () => {
    const queue = await scenarioQueue('sweeper')
    const ttl = 2
    const grace = 1
    const deps = scenarioDeps({
      FILES_QUEUE_URL: queue.queueUrl,
      UPLOAD_URL_TTL_SECONDS: String(ttl),
      EXPIRY_GRACE_SECONDS: String(grace),
      STUCK_AFTER_SECONDS: '2',
    })
    const abandonedCount = sized(20, 100)
    const abandoned = await Promise.all(
      Array.from({ length: abandonedCount }, async (_, i) => {
        const bytes = randomBytes(300)
        const post = mustBePost(await presignUpload(deps, 'reliability', { filename: `a-${i}.bin`, external_id: 'sweeper', content_type: 'application/octet-stream', file_size: bytes.length }))
        // Half of the clients uploaded and never confirmed; the others never uploaded at all.
        if (i % 2 === 0) expect((await postToStorage(post, bytes)).status).toBe(204)
        return { id: post.file_id, uploaded: i % 2 === 0 }
      }),
    )
    // A control upload well inside its window must stay PENDING.
    const control = await presignUpload(shared(), 'reliability', { filename: 'keep.bin', external_id: 'sweeper', content_type: 'application/octet-stream', file_size: 10 })

    // Confirmed files whose messages were lost: published, then the queue was purged.
    const stuck = await seedUploads(deps, sized(20, 100))
    await commitConfirmed(deps, stuck)
    expect((await relayOutbox(deps.db, deps.queue)).published).toBe(stuck.length)
    await purgeQueue(queue.queueUrl)
    const objectKeys = new Map<string, string>()
    for (const a of abandoned.filter((x) => x.uploaded)) {
      const key = (await findFile(deps.db, a.id))!.objectKey
      expect(await deps.storage.head(key)).toBeDefined()
      objectKeys.set(a.id, key)
    }

    await sleep((ttl + grace) * 1000 + 1_500)
    const sweptAt = Date.now()
    const result = await sweepFiles(deps)
    // The relay round publishes the re-published files' messages and each expired file's `file.expired` event.
    expect(result).toMatchObject({ expired: abandonedCount, republished: stuck.length, published: stuck.length + abandonedCount })
    for (const a of abandoned) expect((await findFile(deps.db, a.id))!.status).toBe('EXPIRED')
    for (const key of objectKeys.values()) expect(await deps.storage.head(key)).toBeUndefined()
    expect((await findFile(deps.db, control.file_id))!.status).toBe('PENDING')

    const runtime = await startRuntime({ queues: { files: { url: queue.queueUrl, arn: queue.queueArn } }, schedules: { RelayOutbox: 0, SweepFiles: 0 } })
    try {
      await waitFor('the stuck files SYNCED', async () => (await lostFiles(deps, stuck)).length === 0, 60_000, 200)
    } finally {
      await runtime.close()
    }
    const recovery = Date.now() - sweptAt
    expect(await syncedTransitionAnomalies(deps.db)).toEqual([])
    recordScenario({
      id: '10',
      scenario: 'sweeper: expiry and stuck UPLOADED',
      injected: `${abandonedCount} presigned uploads never confirmed (${objectKeys.size} with their object uploaded; TTL ${ttl} s + grace ${grace} s); ${stuck.length} confirmed files whose SQS messages were purged`,
      files: abandonedCount + stuck.length,
      lost: (await lostFiles(deps, stuck)).length,
      duplicates: '0 double SYNCED',
      recovery: `one sweep: ${result.expired} EXPIRED with ${objectKeys.size} objects deleted, ${result.republished} re-published; stuck files SYNCED ${seconds(recovery)} after the sweep`,
    })
    await deps.close()
  })
})
