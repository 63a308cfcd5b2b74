import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { DeleteMessageBatchCommand, PurgeQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs'
import { Webhook } from 'standardwebhooks'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { deps } from '../../functions/core/deps.js'
import { AppError } from '../../functions/core/errors.js'
import { attemptResult, deliveryMessage } from '../../functions/core/schemas.js'
import { mustBeDeliverableUrl } from '../../functions/core/webhook-endpoints.js'
import { recordResults, sendDeliveries } from '../../functions/core/webhook-delivery.js'
import { sendDelivery } from '../../functions/core/webhook-sender.js'
import { sqsClient, usePipeline } from '../fixtures/pipeline.js'

const pipeline = usePipeline()
const alice = pipeline.client('alice')
const bob = pipeline.client('bob')
const sqs = sqsClient()

interface Received {
  headers: IncomingHttpHeaders
  body: string
}

/** A loopback receiver that answers each request with the next scripted status (the last one repeats). */
class Receiver {
  readonly received: Received[] = []
  statuses: number[] = [200]
  extraHeaders: Record<string, string> = {}
  private server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      const status = this.statuses.length > 1 ? this.statuses.shift()! : this.statuses[0]!
      res.writeHead(status, this.extraHeaders).end('ok')
    })
  })
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return this
  }
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

let receiver: Receiver
beforeAll(async () => {
  receiver = await new Receiver().start()
})
afterAll(async () => {
  await receiver.close()
  sqs.destroy()
})
beforeEach(async () => {
  receiver.received.length = 0
  receiver.statuses = [200]
  receiver.extraHeaders = {}
  for (const url of [process.env.WEBHOOKS_QUEUE_URL!, process.env.WEBHOOK_RESULTS_QUEUE_URL!]) {
    await sqs.send(new PurgeQueueCommand({ QueueUrl: url }))
  }
})

async function receiveAll(queueUrl: string): Promise<string[]> {
  const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }))
  if (Messages.length) {
    await sqs.send(
      new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }),
    )
  }
  return Messages.map((m) => m.Body!)
}

/**
 * Plays the two webhook consumers (sender and recorder) over the real queues until `done` holds, beside the
 * runtime's own pollers of those queues: whichever receives a message handles it, once.
 */
async function pumpUntil(done: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('webhook pump timed out')
    const messages = (await receiveAll(process.env.WEBHOOKS_QUEUE_URL!)).map((b) => deliveryMessage.parse(JSON.parse(b)))
    if (messages.length) await sendDeliveries(deps(), messages)
    const results = (await receiveAll(process.env.WEBHOOK_RESULTS_QUEUE_URL!)).map((b) => attemptResult.parse(JSON.parse(b)))
    if (results.length) await recordResults(deps(), results)
  }
}

async function register(client = alice, body: Record<string, unknown> = {}) {
  const res = await client.request('POST', '/webhooks', { url: receiver.url, ...body })
  expect(res.status).toBe(201)
  return res.json as { id: string; secret: string; events: string[] }
}

async function syncedFile(client = alice) {
  const bytes = Buffer.from('a,b\n1,2\n')
  const { post } = await client.upload(bytes)
  expect((await client.confirm({ file_id: post.file_id, file_size: bytes.length })).status).toBe(200)
  await client.waitForStatus(post.file_id, ['SYNCED'])
  return post.file_id
}

const headersOf = (r: Received) => ({
  'webhook-id': String(r.headers['webhook-id']),
  'webhook-timestamp': String(r.headers['webhook-timestamp']),
  'webhook-signature': String(r.headers['webhook-signature']),
})

describe('webhooks', () => {
  it('registers an endpoint, shows the secret once and lists it without', async () => {
    const created = await register(alice, { description: 'my app' })
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/)
    expect(created.events).toEqual(['file.synced', 'file.failed', 'file.quarantined', 'file.expired', 'file.deleted'])
    const list = await alice.request('GET', '/webhooks')
    expect(list.status).toBe(200)
    expect(list.json.webhooks).toEqual([
      expect.objectContaining({ id: created.id, url: receiver.url, description: 'my app', disabled_at: null }),
    ])
    expect(list.text).not.toContain(created.secret)
    expect((await bob.request('GET', '/webhooks')).json.webhooks).toEqual([])
    expect((await bob.request('DELETE', `/webhooks/${created.id}`)).json.error.code).toBe('WEBHOOK_NOT_FOUND')
    expect((await bob.request('GET', `/webhooks/${created.id}/deliveries`)).status).toBe(404)
    expect((await alice.request('DELETE', `/webhooks/${created.id}`)).status).toBe(204)
    expect((await alice.request('GET', '/webhooks')).json.webhooks).toEqual([])
  })

  it('refuses a URL with credentials or another scheme with 400', async () => {
    for (const url of ['ftp://example.com/x', 'http://user:pw@example.com/x', 'not a url']) {
      const res = await alice.request('POST', '/webhooks', { url })
      expect(res.status, url).toBe(400)
      expect(res.json.error.code).toBe('VALIDATION_FAILED')
    }
  })

  it('delivers file.synced and file.deleted, signed as Standard Webhooks verifies them', async () => {
    const { secret } = await register()
    const fileId = await syncedFile()
    expect((await alice.deleteFile(fileId)).status).toBe(204)
    await pumpUntil(() => receiver.received.length >= 2)

    const verifier = new Webhook(secret)
    const events = receiver.received.map((r) => {
      const event = verifier.verify(r.body, headersOf(r)) as { id: string; type: string; data: { file: { id: string; status: string } } }
      expect(r.headers['webhook-id']).toBe(event.id)
      expect(r.headers['content-type']).toBe('application/json')
      return event
    })
    expect(events.map((e) => [e.type, e.data.file.id, e.data.file.status]).sort()).toEqual([
      ['file.deleted', fileId, 'DELETED'],
      ['file.synced', fileId, 'SYNCED'],
    ])
    // A signature made with another secret does not verify.
    expect(() => new Webhook('whsec_' + Buffer.alloc(32, 7).toString('base64')).verify(receiver.received[0]!.body, headersOf(receiver.received[0]!))).toThrow()
  })

  it('sends only the subscribed types', async () => {
    await register(alice, { events: ['file.deleted'] })
    const fileId = await syncedFile()
    await alice.deleteFile(fileId)
    await pumpUntil(() => receiver.received.length >= 1)
    await pumpUntil(async () => (await deps().db.selectFrom('webhook_deliveries').select('id').where('status', '=', 'PENDING').execute()).length === 0)
    expect(receiver.received.map((r) => JSON.parse(r.body).type)).toEqual(['file.deleted'])
  })

  it('retries a 503 with the same webhook-id, and logs both attempts newest first', async () => {
    const { id } = await register()
    receiver.statuses = [503, 200]
    await syncedFile()
    // The receiver has the retry before its result is recorded: pump until the log holds both attempts.
    const logged = async () => (await alice.request('GET', `/webhooks/${id}/deliveries`)).json.deliveries.length
    await pumpUntil(async () => receiver.received.length >= 2 && (await logged()) >= 2)

    const [first, second] = receiver.received
    expect(first!.headers['webhook-id']).toBe(second!.headers['webhook-id'])
    const log = await alice.request('GET', `/webhooks/${id}/deliveries`)
    expect(log.status).toBe(200)
    expect(log.json.deliveries).toEqual([
      expect.objectContaining({ event_id: first!.headers['webhook-id'], type: 'file.synced', attempt: 2, status_code: 200, error: null }),
      expect.objectContaining({ event_id: first!.headers['webhook-id'], type: 'file.synced', attempt: 1, status_code: 503 }),
    ])
  })

  it('disables an endpoint that stays down through the schedule, with every attempt logged', async () => {
    const down = await new Receiver().start()
    const url = down.url
    await down.close()
    const res = await alice.request('POST', '/webhooks', { url })
    const { id } = res.json
    await syncedFile()
    const schedule = deps().config.webhookRetryScheduleSeconds
    await pumpUntil(async () => (await alice.request('GET', '/webhooks')).json.webhooks[0].disabled_at !== null)

    const hook = (await alice.request('GET', '/webhooks')).json.webhooks[0]
    expect(hook.disabled_reason).toMatch(/deliveries failing since .*: 4 attempts/)
    const log = (await alice.request('GET', `/webhooks/${id}/deliveries`)).json.deliveries
    expect(log.map((d: { attempt: number }) => d.attempt)).toEqual([4, 3, 2, 1])
    expect(log).toHaveLength(schedule.length + 1)
    expect(log.every((d: { status_code: number | null; error: string }) => d.status_code === null && /ECONNREFUSED/.test(d.error))).toBe(true)
  })

  it('disables an endpoint that answers 410 Gone at once', async () => {
    receiver.statuses = [410]
    await register()
    await syncedFile()
    await pumpUntil(async () => (await alice.request('GET', '/webhooks')).json.webhooks[0].disabled_at !== null)
    expect((await alice.request('GET', '/webhooks')).json.webhooks[0].disabled_reason).toBe('the endpoint answered 410 Gone')
    expect(receiver.received).toHaveLength(1)
  })

  it('re-enables a disabled endpoint for its owner only, and deliveries resume with the next event', async () => {
    receiver.statuses = [410, 200]
    const { id } = await register()
    await syncedFile()
    await pumpUntil(async () => (await alice.request('GET', '/webhooks')).json.webhooks[0].disabled_at !== null)

    const refused = await bob.request('POST', `/webhooks/${id}/enable`)
    expect(refused.status).toBe(404)
    expect(refused.json.error.code).toBe('WEBHOOK_NOT_FOUND')
    expect((await alice.request('GET', '/webhooks')).json.webhooks[0].disabled_at).not.toBeNull()
    expect((await alice.request('POST', '/webhooks/not-a-uuid/enable')).status).toBe(400)

    const enabled = await alice.request('POST', `/webhooks/${id}/enable`)
    expect(enabled.status).toBe(200)
    expect(enabled.json).toMatchObject({ id, url: receiver.url, disabled_at: null, disabled_reason: null })
    expect(enabled.text).not.toContain('whsec_')
    // Enabling an enabled endpoint changes nothing.
    expect((await alice.request('POST', `/webhooks/${id}/enable`)).json).toEqual(enabled.json)

    const next = await syncedFile()
    const deliveries = async () => (await alice.request('GET', `/webhooks/${id}/deliveries`)).json.deliveries as { status_code: number }[]
    // The receiver has the request before its result is recorded: pump until the log holds the attempt too.
    await pumpUntil(async () => receiver.received.length >= 2 && (await deliveries()).length >= 2)
    expect(JSON.parse(receiver.received[1]!.body)).toMatchObject({ type: 'file.synced', data: { file: { id: next } } })
    expect((await deliveries()).map((d) => d.status_code)).toEqual([200, 410])
  })

  it('signs with both secrets during a rotation grace period', async () => {
    const { id, secret: old } = await register()
    const rotated = await alice.request('POST', `/webhooks/${id}/rotate-secret`)
    expect(rotated.status).toBe(200)
    expect(rotated.json.secret).not.toBe(old)
    await syncedFile()
    await pumpUntil(() => receiver.received.length >= 1)
    const [delivery] = receiver.received
    expect(String(delivery!.headers['webhook-signature']).split(' ')).toHaveLength(2)
    expect(new Webhook(old).verify(delivery!.body, headersOf(delivery!))).toMatchObject({ type: 'file.synced' })
    expect(new Webhook(rotated.json.secret).verify(delivery!.body, headersOf(delivery!))).toMatchObject({ type: 'file.synced' })
  })

  it('does not follow a redirect, even to a private address', async () => {
    receiver.statuses = [302]
    receiver.extraHeaders = { location: 'http://169.254.169.254/latest/meta-data/' }
    const result = await sendDelivery(
      { delivery_id: '1', webhook_id: '00000000-0000-4000-8000-000000000000', attempt: 1, url: receiver.url, secrets: ['whsec_' + Buffer.alloc(32).toString('base64')], event_id: 'evt_1', event_type: 'file.synced', body: '{}' },
      { allowPrivateNetworks: true },
    )
    expect(result.status_code).toBe(302)
    expect(result.error).toContain('not followed')
    expect(receiver.received).toHaveLength(1)
  })
})

describe('SSRF defence', () => {
  const refused = [
    ['loopback', 'http://127.0.0.1/x'],
    ['loopback, another address', 'http://127.0.0.2/x'],
    ['private 10/8', 'http://10.0.0.5/x'],
    ['private 172.16/12', 'https://172.16.3.4/x'],
    ['private 192.168/16', 'http://192.168.1.1/x'],
    ['link-local', 'http://169.254.10.10/x'],
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['metadata over IPv6', 'http://[fd00:ec2::254]/x'],
    ['CGNAT', 'http://100.64.0.1/x'],
    ['unspecified', 'http://0.0.0.0/x'],
    ['multicast', 'http://224.0.0.1/x'],
    ['IPv6 loopback', 'http://[::1]/x'],
    ['IPv6 link-local', 'http://[fe80::1]/x'],
    ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/x'],
    ['IPv4-mapped IPv6 metadata', 'http://[::ffff:a9fe:a9fe]/x'],
    ['decimal IPv4', 'http://2130706433/x'],
    ['hex IPv4', 'http://0x7f000001/x'],
    ['octal IPv4', 'http://0177.0.0.1/x'],
    ['a hostname resolving to 127.0.0.1', 'http://localhost/x'],
  ] as const

  it.each(refused)('refuses to register %s (%s) with 400', async (_name, url) => {
    const error = await mustBeDeliverableUrl(url, false).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(AppError)
    expect((error as AppError).code).toBe('VALIDATION_FAILED')
  })

  it('accepts a public address at registration', async () => {
    await expect(mustBeDeliverableUrl('https://93.184.215.14/hooks', false)).resolves.toBeUndefined()
  })

  it('refuses at connect time a name that resolves to loopback, before any byte is sent', async () => {
    const port = new URL(receiver.url).port
    const result = await sendDelivery(
      { delivery_id: '1', webhook_id: '00000000-0000-4000-8000-000000000000', attempt: 1, url: `http://localhost:${port}/hook`, secrets: ['whsec_' + Buffer.alloc(32).toString('base64')], event_id: 'evt_1', event_type: 'file.synced', body: '{}' },
      { allowPrivateNetworks: false },
    )
    expect(result.status_code).toBeNull()
    expect(result.error).toMatch(/not a public address/)
    expect(receiver.received).toEqual([])
  })

  it('refuses at connect time an IP literal of a private range', async () => {
    const result = await sendDelivery(
      { delivery_id: '1', webhook_id: '00000000-0000-4000-8000-000000000000', attempt: 1, url: receiver.url, secrets: ['whsec_' + Buffer.alloc(32).toString('base64')], event_id: 'evt_1', event_type: 'file.synced', body: '{}' },
      { allowPrivateNetworks: false },
    )
    expect(result.error).toMatch(/not a public address/)
    expect(receiver.received).toEqual([])
  })
})
