/**
 * `npm start`: the pipeline on this machine. Serves the route table on PORT (default 3000) the way
 * API Gateway would, consumes the files queue the way Lambda's event source mapping would, and runs
 * the relay sweep and the sweeper on a timer, against LocalStack, Postgres and Redis.
 */
import { fileURLToPath } from 'node:url'
import { SQSClient } from '@aws-sdk/client-sqs'
import { DEFAULT_CORS_ALLOWED_ORIGINS, provision } from '../localstack/provision.js'
import { authOptionsFromEnv, createVerifier } from './local/auth.js'
import { bootstrapDatabase } from './local/database.js'
import { applyLocalEnvironment } from './local/environment.js'
import { startLocalRuntime } from './local/runtime.js'
import { webFallback } from './local/web.js'

applyLocalEnvironment()
const root = fileURLToPath(new URL('..', import.meta.url))
const env = process.env
const port = Number(env.PORT ?? 3000)
// The upload page posts straight to the bucket from this runtime's origin, whatever port it is on.
env.CORS_ALLOWED_ORIGINS ??= [
  ...new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`, ...DEFAULT_CORS_ALLOWED_ORIGINS]),
].join(',')

const resources = await provision({ env })
env.FILES_QUEUE_URL = resources.queueUrl
const applied = await bootstrapDatabase(env.DATABASE_URL!)
// Imported after the environment is complete: deps() reads it on first use.
const { deps } = await import('../functions/core/deps.js')

const runtime = await startLocalRuntime({
  root,
  port,
  host: env.HOST ?? '127.0.0.1',
  queues: resources.queues,
  sqs: new SQSClient({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL }),
  verify: createVerifier(authOptionsFromEnv(env)),
  pollers: Number(env.LOCAL_POLLERS ?? 4),
  fallback: webFallback({ root, storageOrigin: env.AWS_ENDPOINT_URL! }),
})

console.log(
  JSON.stringify({
    level: 'INFO',
    message: `upload pipeline listening on ${runtime.url}`,
    url: runtime.url,
    migrations_applied: applied,
    bucket: resources.bucketName,
    queue: resources.queueUrl,
    token: 'npm run -s token -- <subject>',
    page: `${runtime.url}/`,
    openapi: `${runtime.url}/openapi.json`,
  }),
)

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    // A second Ctrl-C does not wait for the long polls to finish.
    if (stopping) process.exit(1)
    stopping = true
    await runtime.close()
    await deps().close()
    process.exit(0)
  })
}
