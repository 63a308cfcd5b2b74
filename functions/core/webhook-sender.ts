import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { BlockedAddressError, hostOf, isPublicAddress, publicOnlyLookup, webhookUrlProblem } from './ssrf.js'
import { type AttemptResult, type DeliveryMessage, MAX_RESPONSE_BYTES, WEBHOOK_TIMEOUT_MS, webhookHeaders } from './webhooks.js'

export interface SendOptions {
  allowPrivateNetworks: boolean
  timeoutMs?: number
  now?: () => Date
}

/**
 * Makes one delivery attempt: POSTs the event, signed, to the endpoint. Refuses non-public
 * addresses at connect time (on the address the socket uses), follows no redirect, gives up after
 * 15 s and reads at most a few KiB of the answer. Never throws: the outcome is in the result.
 */
export async function sendDelivery(message: DeliveryMessage, options: SendOptions): Promise<AttemptResult> {
  const at = (options.now ?? (() => new Date()))()
  const timestamp = Math.floor(at.getTime() / 1000)
  const result = (status_code: number | null, error: string | null): AttemptResult => ({
    delivery_id: message.delivery_id,
    attempt: message.attempt,
    status_code,
    error,
    at: at.toISOString(),
  })

  const problem = webhookUrlProblem(message.url)
  if (problem) return result(null, `url ${problem}`)
  const url = new URL(message.url)
  // node:net skips `lookup` for IP literals, so those are checked here.
  const host = hostOf(url)
  if (isIP(host) && !options.allowPrivateNetworks && !isPublicAddress(host)) {
    return result(null, `${host} is not a public address`)
  }

  const headers = webhookHeaders(message.secrets, message.event_id, timestamp, message.body)
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise<AttemptResult>((resolve) => {
    let settled = false
    const finish = (value: AttemptResult) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(value)
    }
    const req = send(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(message.body)) },
        lookup: publicOnlyLookup(options.allowPrivateNetworks),
        agent: false,
      },
      (res) => {
        let read = 0
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => {
          if (read < MAX_RESPONSE_BYTES) chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - read))
          read += chunk.length
          // Enough is known: stop reading what could be an endless body.
          if (read >= MAX_RESPONSE_BYTES) res.destroy()
        })
        const done = () => {
          const status = res.statusCode ?? null
          const ok = status !== null && status >= 200 && status < 300
          const location = res.headers.location ? ` (redirect to ${res.headers.location} not followed)` : ''
          finish(result(status, ok ? null : `HTTP ${status}${location}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`))
        }
        res.on('end', done)
        res.on('close', done)
        res.on('error', done)
      },
    )
    // The connected address is the checked one; re-check it in case a proxy or agent got in between.
    req.on('socket', (socket) => {
      socket.on('connect', () => {
        const remote = socket.remoteAddress
        if (remote && !options.allowPrivateNetworks && !isPublicAddress(remote)) {
          req.destroy(new BlockedAddressError(`connected to ${remote}, which is not a public address`))
        }
      })
    })
    const timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    req.on('error', (error) => finish(result(null, error.message.slice(0, 500))))
    req.end(message.body)
  })
}
