import { Logger } from '@aws-lambda-powertools/logger'
import type { Kysely } from 'kysely'
import { METRICS } from '../../lib/settings.js'
import type { ContentCache } from './cache.js'
import { type Config, loadConfig } from './config.js'
import type { Database } from './database.js'
import { createDb } from './db.js'
import type { InspectorFactory } from './inspection.js'
import { ConfigError } from './config.js'
import type { EventBus } from './event-bus.js'
import type { MessageQueue } from './queue.js'
import { createScanner, type MalwareScanner } from './scanner.js'
import { sniffContentType } from './sniff.js'
import { createObjectStore, createS3Client, type ObjectStore } from './storage.js'

/** Everything the core needs, built once per execution environment. */
export interface Deps {
  readonly config: Config
  readonly db: Kysely<Database>
  readonly storage: ObjectStore
  readonly queue: MessageQueue
  /** The event bus, when FILES_EVENT_BUS_NAME is set; the relay publishes final-state events only with one. */
  readonly bus: EventBus | undefined
  /** Webhook deliveries, for the sender outside the VPC (WEBHOOKS_QUEUE_URL). */
  readonly webhookQueue: MessageQueue
  /** The sender's attempt results, back to the recorder (WEBHOOK_RESULTS_QUEUE_URL). */
  readonly webhookResultsQueue: MessageQueue
  readonly cache: ContentCache
  /** Undefined when malware scanning is switched off (MALWARE_SCANNER=off). */
  readonly scanner: MalwareScanner | undefined
  /** Checks run on the hash stage's single read of each object (see `ContentInspector`). */
  readonly inspectors: readonly InspectorFactory[]
  readonly logger: Logger
  /** Releases pooled connections (tests and the local runtime; Lambda just freezes). */
  close(): Promise<void>
}

export const logger = new Logger({ serviceName: METRICS.serviceName })

/**
 * Loads `load` on first use. The SQS client and ioredis each add module load to a cold start
 * (docs/BENCHMARKS.md, "What each change bought", 5) and most functions need one of them at most: the confirm and
 * relay functions never touch Redis; presign, get and hash never send to SQS.
 */
function onFirstUse<T>(load: () => Promise<T>): { get: () => Promise<T>; loaded: () => Promise<T> | undefined } {
  let value: Promise<T> | undefined
  return { get: () => (value ??= load()), loaded: () => value }
}

export function createDeps(config: Config): Deps {
  const db = createDb(config, (error) => logger.warn('database connection lost; the pool reconnects', { error: String(error) }))
  const s3 = createS3Client(config)
  const sqs = onFirstUse(async () => {
    const { createMessageQueue, createSqsClient } = await import('./queue.js')
    const client = createSqsClient(config)
    return { client, queue: createMessageQueue(client, config.queueUrl) }
  })
  const queueAt = (url: string | undefined, variable: string): MessageQueue => {
    const queue = onFirstUse(async () => {
      if (!url) throw new ConfigError(`Missing required environment variable ${variable}`)
      const { createMessageQueue } = await import('./queue.js')
      return createMessageQueue((await sqs.get()).client, url)
    })
    return { sendBatch: async (messages) => (await queue.get()).sendBatch(messages), ping: async () => (await queue.get()).ping() }
  }
  const eventBridge = onFirstUse(async () => {
    const { createEventBridgeClient, createEventBus } = await import('./event-bus.js')
    const client = createEventBridgeClient(config)
    return { client, bus: createEventBus(client, config.eventBusName!) }
  })
  const redis = onFirstUse(async () => {
    const { createContentCache, createRedisClient } = await import('./cache.js')
    const client = createRedisClient(config)
    return { client, cache: createContentCache(client, config, logger) }
  })
  return {
    config,
    db,
    storage: createObjectStore(s3, config.bucketName),
    queue: {
      sendBatch: async (messages) => (await sqs.get()).queue.sendBatch(messages),
      ping: async () => (await sqs.get()).queue.ping(),
    },
    bus: config.eventBusName ? { put: async (events) => (await eventBridge.get()).bus.put(events) } : undefined,
    webhookQueue: queueAt(config.webhooksQueueUrl, 'WEBHOOKS_QUEUE_URL'),
    webhookResultsQueue: queueAt(config.webhookResultsQueueUrl, 'WEBHOOK_RESULTS_QUEUE_URL'),
    cache: {
      get: async (fileId) => (await redis.get()).cache.get(fileId),
      set: async (fileId, content) => (await redis.get()).cache.set(fileId, content),
      evict: async (fileId) => (await redis.get()).cache.evict(fileId),
      rateLimit: async (key, limit, windowSeconds, cost) => (await redis.get()).cache.rateLimit(key, limit, windowSeconds, cost),

      ping: async () => (await redis.get()).cache.ping(),
    },
    scanner: createScanner(config.malwareScanning),
    inspectors: [sniffContentType],
    logger,
    async close() {
      await db.destroy()
      const [cache, queue, bus] = await Promise.all([redis.loaded(), sqs.loaded(), eventBridge.loaded()])
      cache?.client.disconnect()
      queue?.client.destroy()
      bus?.client.destroy()
      s3.destroy()
    },
  }
}

let instance: Deps | undefined

/**
 * The process-wide dependencies, created on first use so that importing a handler has no side
 * effects and a missing variable fails the first invocation with its name.
 */
export function deps(): Deps {
  instance ??= createDeps(loadConfig())
  return instance
}
