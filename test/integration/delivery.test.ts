import { describe, expect, it } from 'vitest'
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs'
import { deps } from '../../functions/core/deps.js'
import { handler as hashFile } from '../../functions/hash-file.js'
import { context, sqsEvent } from '../fixtures/events.js'
import { sha256, sqsClient, startRuntime, usePipeline } from '../fixtures/pipeline.js'

// The API only: these tests deliver the messages themselves.
const pipeline = usePipeline({ pollers: 0, schedules: { RelayOutbox: 0, SweepFiles: 0 } })
const api = pipeline.client('alice')

async function confirmedFile(content: string) {
  const bytes = Buffer.from(content)
  const { post } = await api.upload(bytes)
  await api.confirm({ file_id: post.file_id, file_size: bytes.length })
  return { id: post.file_id, bytes }
}

const message = (fileId: string) => JSON.stringify({ event: 'file.uploaded', file_id: fileId })
const file = (id: string) => deps().db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

describe('the hash function', () => {
  it('acknowledges the same message delivered twice and syncs the file once', async () => {
    const { id, bytes } = await confirmedFile('a,b\n1,2\n')
    const first = await hashFile(sqsEvent([{ body: message(id) }]), context())
    const synced = await file(id)
    const second = await hashFile(sqsEvent([{ body: message(id), receiveCount: 2 }]), context())

    expect(first).toEqual({ batchItemFailures: [] })
    expect(second).toEqual({ batchItemFailures: [] })
    expect(synced).toMatchObject({ status: 'SYNCED', sha256: sha256(bytes), sync_attempts: 1 })
    expect(await file(id)).toEqual(synced)
  })

  it('syncs concurrent duplicate deliveries exactly once', async () => {
    const { id } = await confirmedFile('dup')
    const results = await Promise.all([1, 2, 3].map(() => hashFile(sqsEvent([{ body: message(id) }]), context())))
    // A duplicate that finds a live claim asks to be retried later rather than racing the holder;
    // at least one delivery did the work.
    expect(results.filter((r) => r.batchItemFailures.length === 0).length).toBeGreaterThanOrEqual(1)
    expect(await file(id)).toMatchObject({ status: 'SYNCED', sync_attempts: 1 })
  })

  it('reports only the failing record of a batch and syncs the others', async () => {
    const a = await confirmedFile('first')
    const b = await confirmedFile('second')
    const event = sqsEvent([{ body: message(a.id) }, { body: 'not json' }, { body: message(b.id) }])
    const response = await hashFile(event, context())
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[1]!.messageId }] })
    expect((await file(a.id)).status).toBe('SYNCED')
    expect((await file(b.id)).status).toBe('SYNCED')
  })

  it('marks a file FAILED when its object is gone', async () => {
    const { id } = await confirmedFile('vanishing')
    const row = await file(id)
    await deps().storage.erase(row.object_key)
    expect(await hashFile(sqsEvent([{ body: message(id) }]), context())).toEqual({ batchItemFailures: [] })
    expect(await file(id)).toMatchObject({ status: 'FAILED', error_code: 'UPLOAD_NOT_FOUND' })
  })

  it('marks a file FAILED with CHECKSUM_MISMATCH when the bytes differ from the declared SHA-256', async () => {
    // Storage refuses a POST whose bytes differ from its declared SHA-256, but a multipart upload has only
    // per-part checksums: the hash stage's full-object check catches it, and this declaration stands in for one.
    const { id } = await confirmedFile('tampered')
    await deps().db.updateTable('files').set({ expected_sha256: sha256(Buffer.from('original')) }).where('id', '=', id).execute()
    await hashFile(sqsEvent([{ body: message(id) }]), context())
    expect(await file(id)).toMatchObject({ status: 'FAILED', error_code: 'CHECKSUM_MISMATCH', sha256: null })
  })
})

describe('the local event source mapping', () => {
  it('deletes the records that succeeded and leaves a failing one for redelivery', async () => {
    const queueUrl = process.env.FILES_QUEUE_URL!
    const sqs = sqsClient()
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{"event":"something-else"}' }))
    // The confirm publishes the good file's message itself.
    const good = await confirmedFile('good')
    const consumer = await startRuntime({ pollers: 1, schedules: { RelayOutbox: 0, SweepFiles: 0 } })
    try {
      await api.waitForStatus(good.id, ['SYNCED'])
      // The poison record was received but not deleted: it is in flight until its visibility timeout. The good one
      // is deleted once the batch returns, a moment after its file is SYNCED: until then the queue holds both.
      let inFlight = '0'
      for (let i = 0; i < 50 && inFlight !== '1'; i++) {
        const attrs = await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessages'] }),
        )
        inFlight = String(Number(attrs.Attributes!.ApproximateNumberOfMessagesNotVisible) + Number(attrs.Attributes!.ApproximateNumberOfMessages))
        if (inFlight !== '1') await new Promise((r) => setTimeout(r, 100))
      }
      expect(inFlight).toBe('1')
    } finally {
      await consumer.close()
      sqs.destroy()
    }
  })

  it('leaves no long poll behind when it closes, so the next consumer gets new messages at once', async () => {
    const queueUrl = process.env.FILES_QUEUE_URL!
    const consumer = await startRuntime({ pollers: 2, schedules: { RelayOutbox: 0, SweepFiles: 0 }, waitTimeSeconds: 3 })
    // Let both pollers get their long polls in flight before closing.
    await new Promise((r) => setTimeout(r, 500))
    await consumer.close()
    const sqs = sqsClient()
    try {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'after close' }))
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 2 }))
      expect(Messages.map((m) => m.Body)).toEqual(['after close'])
    } finally {
      sqs.destroy()
    }
  })
})
