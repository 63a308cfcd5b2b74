import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs'
import { describe, expect, it } from 'vitest'
import { findFile } from '../../functions/core/files.repository.js'
import { relayOutbox } from '../../functions/core/outbox.js'
import type { MessageQueue } from '../../functions/core/queue.js'
import { createS3Client } from '../../functions/core/storage.js'
import { sqsClient, startRuntime } from '../fixtures/pipeline.js'
import { countTransitions, syncedTransitionAnomalies } from './support/audit.js'
import { sized } from './support/env.js'
import {
  commitConfirmed,
  lostFiles,
  putObject,
  root,
  scenarioDeps,
  scenarioQueue,
  seedUploads,
  sleep,
  spawnWorker,
  waitFor,
  useSharedDeps,
  confirmedScenario,
} from './support/harness.js'
import { recordScenario, seconds } from './support/report.js'

const run = promisify(execFile)
useSharedDeps()

async function queueDepth(queueUrl: string): Promise<number> {
  const sqs = sqsClient()
  try {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    )
    return Number(Attributes.ApproximateNumberOfMessages ?? 0) + Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0)
  } finally {
    sqs.destroy()
  }
}

describe('delivery faults', () => {
  it('4: a message delivered three times makes exactly one SYNCING→SYNCED transition per file, with the right hash', async () => {
    const { queue, deps, files } = await confirmedScenario('triple', sized(100, 500))
    // Every SendMessageBatch is made three times: three deliveries of every message.
    const tripled: MessageQueue = {
      ping: () => deps.queue.ping(),
      async sendBatch(messages) {
        const results = await Promise.all([1, 2, 3].map(() => deps.queue.sendBatch(messages)))
        return { failed: results.flatMap((r) => r.failed) }
      },
    }
    const relayed = await relayOutbox(deps.db, tripled)
    expect(relayed.published).toBe(files.length)
    const started = Date.now()
    const runtime = await startRuntime({ queues: { files: { url: queue.queueUrl, arn: queue.queueArn } }, schedules: { RelayOutbox: 0, SweepFiles: 0 }, pollers: 4 })
    try {
      await waitFor('every file SYNCED', async () => (await lostFiles(deps, files)).length === 0, 120_000, 250)
      await waitFor('the queue to drain', async () => (await queueDepth(queue.queueUrl)) === 0, 60_000, 500)
    } finally {
      await runtime.close()
    }
    expect(await lostFiles(deps, files)).toEqual([])
    expect(await syncedTransitionAnomalies(deps.db)).toEqual([])
    expect(await countTransitions(deps.db, 'SYNCING', 'SYNCED')).toBe(files.length)
    recordScenario({
      id: '4',
      scenario: 'every SQS message delivered three times',
      injected: `${files.length * 3} messages for ${files.length} files, consumed by 4 concurrent pollers`,
      files: files.length,
      lost: 0,
      duplicates: `${files.length * 2} duplicate deliveries acknowledged; SYNCING→SYNCED transitions ${await countTransitions(deps.db, 'SYNCING', 'SYNCED')} (exactly 1 per file)`,
      recovery: `n/a; all SYNCED and queue empty in ${seconds(Date.now() - started)}`,
    })
    await deps.close()
  })

  it('5: a poison message ends in the DLQ with its file FAILED, its batch succeeds, and the redrive re-processes it', async () => {
    const queue = await scenarioQueue('poison', 1)
    const deps = scenarioDeps({ FILES_QUEUE_URL: queue.queueUrl })
    const files = await seedUploads(deps, 10)
    const poison = files[9]!
    const s3 = createS3Client(deps.config)
    // An archived object: GetObject answers 403 InvalidObjectState until it is restored.
    await putObject(s3, deps.config.bucketName, poison.key, poison.bytes, 'GLACIER')
    await commitConfirmed(deps, files)
    expect((await relayOutbox(deps.db, deps.queue)).published).toBe(10)

    const runtime = await startRuntime({ queues: { files: { url: queue.queueUrl, arn: queue.queueArn } }, schedules: { RelayOutbox: 0, SweepFiles: 0 }, pollers: 1 })
    let redriveStartedAt = 0
    let moved: { method: string; moved: number }
    try {
      await waitFor('the poison message in the DLQ', async () => (await queueDepth(queue.dlqUrl)) === 1, 60_000, 250)
      const failed = await findFile(deps.db, poison.id)
      expect(failed).toMatchObject({ status: 'FAILED', error: { code: 'RETRIES_EXHAUSTED' }, syncAttempts: 3 })
      expect(failed!.error!.message).toMatch(/InvalidObjectState/)
      // The nine good records of the batch succeeded on their first delivery.
      expect(await lostFiles(deps, files.slice(0, 9))).toEqual([])
      for (const f of files.slice(0, 9)) expect((await findFile(deps.db, f.id))!.syncAttempts).toBe(1)
      expect(await queueDepth(queue.queueUrl)).toBe(0)

      // The cause is fixed (the object restored), then the operator redrives.
      await putObject(s3, deps.config.bucketName, poison.key, poison.bytes, 'STANDARD')
      redriveStartedAt = Date.now()
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bin/redrive.ts', '--queue-url', queue.queueUrl], { cwd: root, env: process.env })
      moved = JSON.parse(stdout.trim().split('\n').at(-1)!) as { method: string; moved: number }
      expect(moved.moved).toBe(1)
      await waitFor('the redriven file SYNCED', async () => (await lostFiles(deps, [poison])).length === 0, 60_000, 250)
    } finally {
      await runtime.close()
      s3.destroy()
    }
    expect(await queueDepth(queue.dlqUrl)).toBe(0)
    expect(await syncedTransitionAnomalies(deps.db)).toEqual([])
    recordScenario({
      id: '5',
      scenario: 'poison message → DLQ → redrive',
      injected: 'one object of a 10-message batch archived (GLACIER: GetObject 403 InvalidObjectState), maxReceiveCount 3',
      files: 10,
      lost: 0,
      duplicates: '0 (9 good records synced on their first delivery)',
      recovery: `FAILED RETRIES_EXHAUSTED after 3 deliveries, 1 message in the DLQ; after the object was restored, \`npm run redrive\` (${moved!.method}) moved ${moved!.moved} and the file was SYNCED ${seconds(Date.now() - redriveStartedAt)} after the redrive started`,
    })
    await deps.close()
  })

  it('5b: the redrive command also moves DLQ messages by receive, send and delete (--manual), keeping their bodies', async () => {
    const queue = await scenarioQueue('redrive-manual')
    const sqs = sqsClient()
    const bodies = ['{"event":"file.uploaded","file_id":"a","outbox_id":"1"}', 'second', 'third']
    try {
      for (const body of bodies) await sqs.send(new SendMessageCommand({ QueueUrl: queue.dlqUrl, MessageBody: body }))
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bin/redrive.ts', '--manual', '--queue-url', queue.queueUrl], { cwd: root, env: process.env })
      expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({ method: 'receive-send-delete', moved: 3 })
      const received: string[] = []
      while (received.length < 3) {
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }))
        received.push(...Messages.map((m) => m.Body!))
        if (Messages.length === 0) break
      }
      expect(received.sort()).toEqual([...bodies].sort())
      expect(await queueDepth(queue.dlqUrl)).toBe(0)
    } finally {
      sqs.destroy()
    }
  })

  it('6: a hash worker SIGKILLed mid-stream: the message returns after the visibility timeout and the file reaches SYNCED', async () => {
    const queue = await scenarioQueue('worker-kill', 3)
    const deps = scenarioDeps({ FILES_QUEUE_URL: queue.queueUrl })
    const size = sized(128, 512) * 1024 * 1024
    const [big] = await seedUploads(deps, 1, { size: () => size })
    await commitConfirmed(deps, [big!])
    expect((await relayOutbox(deps.db, deps.queue)).published).toBe(1)
    const workerEnv = { FILES_QUEUE_URL: queue.queueUrl, RUNTIME_POLLERS: '1', RUNTIME_RELAY_MS: '0' }

    const first = spawnWorker('test/reliability/workers/runtime.ts', workerEnv)
    await first.ready
    await waitFor('the worker to claim the file', async () => (await findFile(deps.db, big!.id))?.status === 'SYNCING', 60_000, 5)
    await first.kill('SIGKILL')
    const killedAt = Date.now()
    const afterKill = await findFile(deps.db, big!.id)
    // Killed while streaming: the claim is held and no hash was recorded.
    expect(afterKill).toMatchObject({ status: 'SYNCING', sha256: null })

    const second = spawnWorker('test/reliability/workers/runtime.ts', workerEnv)
    try {
      await second.ready
      await waitFor('the file SYNCED by the second worker', async () => (await lostFiles(deps, [big!])).length === 0, 180_000, 100)
    } finally {
      await second.kill('SIGTERM')
    }
    const recovery = Date.now() - killedAt
    expect(await countTransitions(deps.db, 'SYNCING', 'SYNCING')).toBeGreaterThanOrEqual(1)
    expect(await syncedTransitionAnomalies(deps.db)).toEqual([])
    await sleep(0)
    recordScenario({
      id: '6',
      scenario: 'hash worker SIGKILLed mid-stream',
      injected: `SIGKILL of the worker process while it streamed a ${size / 1024 / 1024} MiB object (visibility timeout 3 s, stale claim 2 s)`,
      files: 1,
      lost: 0,
      duplicates: '0 double SYNCED; the stale SYNCING claim was retaken once',
      recovery: `${seconds(recovery)} from the kill to SYNCED`,
    })
    await deps.close()
  })
})
