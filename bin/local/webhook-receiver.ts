import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'

/** One request as the receiver saw it, verified against the endpoint's secret when it was given one. */
export interface ReceivedWebhook {
  /** The `webhook-id` header: the event id, the same on every retry. */
  id: string
  headers: IncomingHttpHeaders
  body: string
  /** The parsed event when the signature verified (or no secret was given), else undefined. */
  event: { id: string; type: string; timestamp: string; data: { file: Record<string, unknown> } } | undefined
  /** Why verification failed, when it did. */
  error: string | undefined
  /** The status the receiver answered. */
  status: number
  /** `performance.timeOrigin + performance.now()` when the body was complete, for latency figures. */
  receivedAt: number
}

export interface WebhookReceiverOptions {
  /** The endpoint's `whsec_…` secret; a request whose signature does not verify is answered 401. */
  secret?: string
  port?: number
  host?: string
  /** The status for a verified request (default 204); a receiver outage answers 503, say. */
  status?: (request: Omit<ReceivedWebhook, 'status'>) => number
  onReceived?: (received: ReceivedWebhook) => void
}

export interface WebhookReceiver {
  readonly url: string
  readonly received: ReceivedWebhook[]
  /** Verifies from now on with this secret (registration shows it only after the URL is known). */
  verifyWith(secret: string): void
  close(): Promise<void>
}

/**
 * A webhook endpoint on this machine that verifies each delivery's Standard Webhooks signature with the
 * reference library (`standardwebhooks`), as an integrating application would: the README's walkthrough, the
 * benchmarks and the reliability scenarios all receive through it.
 */
export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  let verifier = options.secret ? new Webhook(options.secret) : undefined
  const received: ReceivedWebhook[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const receivedAt = performance.timeOrigin + performance.now()
      const body = Buffer.concat(chunks).toString('utf8')
      const id = String(req.headers['webhook-id'] ?? '')
      let event: ReceivedWebhook['event']
      let error: string | undefined
      try {
        event = verifier
          ? (verifier.verify(body, {
              'webhook-id': id,
              'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
              'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
            }) as ReceivedWebhook['event'])
          : (JSON.parse(body) as ReceivedWebhook['event'])
      } catch (e) {
        error = e instanceof Error ? e.message : String(e)
      }
      const seen = { id, headers: req.headers, body, event, error, receivedAt }
      const status = error ? 401 : (options.status?.(seen) ?? 204)
      const entry = { ...seen, status }
      received.push(entry)
      res.writeHead(status).end()
      options.onReceived?.(entry)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve())
  })
  const address = server.address() as AddressInfo
  return {
    url: `http://${address.address}:${address.port}/webhooks`,
    received,
    verifyWith(secret) {
      verifier = new Webhook(secret)
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
