/**
 * `npm run bench [-- --quick] [-- --only=hashing,hash-stage,hash-memory,scanning,e2e,api,folder,multipart,webhooks,relay,cold]`: measures the pipeline against
 * its limits, each figure beside a baseline measured in the same run, prints the figures and
 * rewrites docs/BENCHMARKS.md. Runs against the bench database, Redis DB and LocalStack resources
 * (bench/env.ts), never those of the tests or `npm start`. With --only, the report goes to
 * .bench/BENCHMARKS.partial.md instead. BENCH_RUNTIME_NODE_ARGS passes node flags to the runtime
 * process (e.g. `--cpu-prof --cpu-prof-dir=.bench/prof` to profile it).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DeleteQueueCommand, SQSClient } from '@aws-sdk/client-sqs'
import { queues as queueTable } from '../lib/settings.js'
import { applyBenchEnvironment, RELAY_QUEUE_NAME } from './env.js'
import type { Section } from './stats.js'

applyBenchEnvironment()
const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',')
const wants = (name: string) => !only || only.includes(name)
const log = (line: string) => console.log(`bench: ${line}`)

// Imported after the environment is complete: the product reads it on first use.
const { provision, DEFAULT_CORS_ALLOWED_ORIGINS } = await import('../localstack/provision.js')
const { bootstrapDatabase } = await import('../bin/local/database.js')
const { createDb } = await import('../functions/core/db.js')
const { createS3Client } = await import('../functions/core/storage.js')
const { loadConfig } = await import('../functions/core/config.js')

const started = Date.now()
const loadAtStart = loadavg()[0]!
await mkdir(join(root, '.bench'), { recursive: true })
await bootstrapDatabase(process.env.DATABASE_URL!, { fresh: true })
{
  // The bench's own Redis index: cached content of the previous run's (dropped) database goes too.
  const { Redis } = await import('ioredis')
  const redis = new Redis(process.env.REDIS_URL!)
  await redis.flushdb()
  redis.disconnect()
}
// Queues of this run only, deleted at the end: a stopped runtime's long polls stay open on the SQS
// side for up to 20 s and would swallow the next run's first messages for the visibility timeout.
const runId = Date.now().toString(36)
const resources = await provision({ env: process.env, queuePrefix: `${process.env.QUEUE_NAME_PREFIX}-${runId}` })
// Every queue of this run, for the runtime process too: it inherits this environment as it is.
for (const q of queueTable) process.env[q.urlVariable] = resources.queues[q.name].url
const relayQueue = await provision({ env: process.env, queuePrefix: `${RELAY_QUEUE_NAME}-${runId}` })
const sqs = new SQSClient({ region: process.env.AWS_REGION, endpoint: process.env.AWS_ENDPOINT_URL })
const config = loadConfig()
const s3 = createS3Client(config)

const sections: (Section & { ok?: boolean })[] = []
const failures: string[] = []
async function section(name: string, fn: () => Promise<Section & { ok?: boolean }>): Promise<void> {
  if (!wants(name)) return
  try {
    sections.push(await fn())
  } catch (error) {
    failures.push(name)
    console.error(`bench: ${name} failed:`, error)
    sections.push({ title: name, body: `Failed in this run: \`${String(error).slice(0, 300)}\``, ok: false })
  }
}

await section('hashing', async () => {
  const { benchHashing } = await import('./hashing.js')
  return benchHashing({ root, s3, bucket: config.bucketName, sizesMiB: quick ? [64] : [64, 256, 1024], reps: 3, log })
})

await section('hash-stage', async () => {
  const { benchHashStage } = await import('./hash-stage.js')
  const db = createDb(config)
  try {
    return await benchHashStage({ config, s3, db, sizeMiB: quick ? 256 : 2048, capMiBps: 64, ranges: 4, log })
  } finally {
    await db.destroy()
  }
})

await section('hash-memory', async () => {
  const { benchHashMemory } = await import('./hash-memory.js')
  const db = createDb(config)
  try {
    return await benchHashMemory({ root, config, s3, db, sizesMiB: quick ? [64, 512] : [64, 512, 4096], log })
  } finally {
    await db.destroy()
  }
})

await section('scanning', async () => {
  const { benchScanning } = await import('./scanning.js')
  return benchScanning({ s3, bucket: config.bucketName, scanning: config.malwareScanning, sizesMiB: quick ? [8] : [1, 8, 24], reps: quick ? 3 : 5, smallScans: quick ? 50 : 200, log })
})

if (wants('e2e') || wants('api') || wants('multipart') || wants('webhooks') || wants('folder')) {
  const { spawnRuntime } = await import('./runtime-process.js')
  const { tokenFor } = await import('../test/fixtures/pipeline.js')
  const { createObjectStore } = await import('../functions/core/storage.js')
  const db = createDb(config)
  const storage = createObjectStore(s3, config.bucketName)
  const owner = 'bench-user'
  const token = await tokenFor(owner, '2h')
  const runtime = await spawnRuntime(root)
  log(`runtime listening on ${runtime.url} (separate process, pid ${runtime.child.pid})`)
  try {
    await section('e2e', async () => {
      const { benchEndToEnd } = await import('./e2e.js')
      return benchEndToEnd({ url: runtime.url, token, owner, db, storage, s3, sqs, bucket: config.bucketName, scratchQueueUrl: relayQueue.queueUrl, files: quick ? 500 : 1000, concurrency: 16, log })
    })
    await section('api', async () => {
      const { benchApi } = await import('./api.js')
      return benchApi({ url: runtime.url, token, owner, db, s3, bucket: config.bucketName, quick, log })
    })
    await section('folder', async () => {
      const { benchFolderDrop } = await import('./folder-drop.js')
      // The page uploads straight to the bucket from the runtime's origin (a random port).
      const { PutBucketCorsCommand } = await import('@aws-sdk/client-s3')
      const { corsRules } = await import('../localstack/provision.js')
      await s3.send(new PutBucketCorsCommand({ Bucket: config.bucketName, CORSConfiguration: { CORSRules: corsRules([runtime.url, ...DEFAULT_CORS_ALLOWED_ORIGINS]) } }))
      return benchFolderDrop({ root, url: runtime.url, files: quick ? 100 : 300, log })
    })
    await section('multipart', async () => {
      const { benchMultipart } = await import('./multipart.js')
      return benchMultipart({ root, url: runtime.url, token, s3, bucket: config.bucketName, sizeMiB: quick ? 256 : 1024, inFlight: [1, 4, 8, 16], log })
    })
    await section('webhooks', async () => {
      const { benchWebhooks } = await import('./webhooks.js')
      return benchWebhooks({ url: runtime.url, token, db, unloadedFiles: quick ? 20 : 40, loadedFiles: quick ? 100 : 300, concurrency: 16, log })
    })
  } finally {
    await runtime.stop()
    await db.destroy()
  }
}

await section('relay', async () => {
  const { benchRelay } = await import('./relay.js')
  const { createSqsClient } = await import('../functions/core/queue.js')
  const db = createDb(config)
  const client = createSqsClient(config)
  try {
    return await benchRelay({ db, sqs: client, queueUrl: relayQueue.queueUrl, rows: quick ? 2000 : 10000, reps: quick ? 3 : 5, log })
  } finally {
    client.destroy()
    await db.destroy()
  }
})

await section('cold', async () => {
  const { benchColdStart } = await import('./cold-start.js')
  return benchColdStart({ root, reps: quick ? 5 : 10, log })
})

for (const url of [resources, relayQueue].flatMap((r) => Object.values(r.queues).flatMap((q) => [q.url, q.dlqUrl]))) {
  await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined)
}
sqs.destroy()
s3.destroy()
const { renderReport } = await import('./report.js')
const report = renderReport({
  changes: await readFile(join(root, 'bench', 'changes.md'), 'utf8'),
  quick,
  sections,
  machine: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 1024 ** 3)} GiB RAM, Node ${process.versions.node}`,
  seconds: (Date.now() - started) / 1000,
  load: [loadAtStart, loadavg()[0]!],
  partial: Boolean(only),
})
console.log(`\n${report}`)
if (!only) await writeFile(join(root, 'docs', 'BENCHMARKS.md'), report)
else await writeFile(join(root, '.bench', 'BENCHMARKS.partial.md'), report)
log(`done in ${Math.round((Date.now() - started) / 1000)} s${failures.length ? `; failed: ${failures.join(', ')}` : ''}`)
process.exit(failures.length ? 1 : 0)
