/**
 * The local runtime (bin/local/runtime.ts) as a child process: the HTTP API, the queue pollers
 * running the real hash handler, and the relay on a timer, wired to the services named in its
 * environment (a throwaway Redis, Postgres or a proxied LocalStack).
 */
import { fileURLToPath } from 'node:url'
import { SQSClient } from '@aws-sdk/client-sqs'
import { authOptionsFromEnv, createVerifier } from '../../../bin/local/auth.js'
import { startLocalRuntime } from '../../../bin/local/runtime.js'

const env = process.env
const root = fileURLToPath(new URL('../../..', import.meta.url))
const runtime = await startLocalRuntime({
  root,
  port: 0,
  sqs: new SQSClient({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL }),
  verify: createVerifier(authOptionsFromEnv(env)),
  pollers: Number(env.RUNTIME_POLLERS ?? 4),
  waitTimeSeconds: 1,
  schedules: { RelayOutbox: Number(env.RUNTIME_RELAY_MS ?? 500), SweepFiles: 0 },
  log: (message, fields) => {
    if (message !== 'request') process.stderr.write(`${JSON.stringify({ message, ...fields })}\n`)
  },
})
process.stdout.write(`${JSON.stringify({ ready: true, url: runtime.url, pid: process.pid })}\n`)
process.on('SIGTERM', () => {
  void runtime.close().finally(() => process.exit(0))
})
