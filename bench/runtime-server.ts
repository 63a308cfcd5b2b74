/**
 * The local runtime in a process of its own, as `npm start` runs it (4 pollers, 5 s long polls,
 * relay sweep every second), but on the bench resources and a free port. The bench orchestrator
 * spawns it after provisioning; it prints one JSON line `{ url }` once it listens.
 */
import { fileURLToPath } from 'node:url'
import { SQSClient } from '@aws-sdk/client-sqs'
import { authOptionsFromEnv, createVerifier } from '../bin/local/auth.js'
import { startLocalRuntime } from '../bin/local/runtime.js'

// The orchestrator's environment is complete (this run's queues included); applying the bench's again would point
// the queues back at the prefix's own instead of this run's.
const env = process.env
const root = fileURLToPath(new URL('..', import.meta.url))

const { deps } = await import('../functions/core/deps.js')
const { webFallback } = await import('../bin/local/web.js')
const runtime = await startLocalRuntime({
  root,
  port: 0,
  sqs: new SQSClient({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL }),
  verify: createVerifier(authOptionsFromEnv(env)),
  pollers: Number(env.LOCAL_POLLERS ?? 4),
  // Request lines would cost the runtime as much as some handlers; the handlers still log as shipped.
  log: () => undefined,
  // The upload page, for the folder-drop benchmark.
  fallback: webFallback({ root, storageOrigin: env.AWS_ENDPOINT_URL! }),
})
process.stdout.write(`${JSON.stringify({ url: runtime.url })}\n`)

process.on('SIGTERM', async () => {
  await runtime.close()
  await deps().close()
  process.exit(0)
})
