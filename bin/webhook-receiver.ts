/**
 * `npm run -s webhook-receiver -- --secret whsec_… [--port 4000] [--host 127.0.0.1]`: a webhook endpoint on this
 * machine for trying the pipeline's webhooks. It verifies each delivery's signature with the secret registration
 * showed (the `standardwebhooks` reference library), prints every verified event as one JSON line on stdout, and
 * answers 401 to anything that does not verify (reported on stderr).
 */
import { parseArgs } from 'node:util'
import { startWebhookReceiver } from './local/webhook-receiver.js'

const { values } = parseArgs({
  options: { secret: { type: 'string' }, port: { type: 'string', default: '4000' }, host: { type: 'string', default: '127.0.0.1' } },
})
if (!values.secret?.startsWith('whsec_')) {
  console.error('usage: npm run -s webhook-receiver -- --secret whsec_… [--port 4000] [--host 127.0.0.1]')
  process.exit(2)
}

const receiver = await startWebhookReceiver({
  secret: values.secret,
  port: Number(values.port),
  host: values.host,
  onReceived: (r) => {
    if (r.error) console.error(JSON.stringify({ refused: r.id || null, status: r.status, error: r.error }))
    else console.log(JSON.stringify({ verified: true, 'webhook-id': r.id, type: r.event?.type, file: r.event?.data.file }))
  },
})
console.error(`webhook receiver listening on ${receiver.url}; register this URL with POST /webhooks`)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => void receiver.close().then(() => process.exit(0)))
}
