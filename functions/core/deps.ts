import { Logger } from '@aws-lambda-powertools/logger'
import type { Kysely } from 'kysely'
import { createContentCache, createRedisClient, type ContentCache } from './cache.js'
import { type Config, loadConfig } from './config.js'
import type { Database } from './database.js'
import { createDb } from './db.js'
import { createMessageQueue, createSqsClient, type MessageQueue } from './queue.js'
import { createObjectStore, createS3Client, type ObjectStore } from './storage.js'

/** Everything the core needs, built once per execution environment. */
export interface Deps {
  readonly config: Config
  readonly db: Kysely<Database>
  readonly storage: ObjectStore
  readonly queue: MessageQueue
  readonly cache: ContentCache
  readonly logger: Logger
  /** Releases pooled connections (tests and the local runtime; Lambda just freezes). */
  close(): Promise<void>
}

export const logger = new Logger({ serviceName: 'upload-pipeline' })

export function createDeps(config: Config): Deps {
  const db = createDb(config, (error) => logger.warn('database connection lost; the pool reconnects', { error: String(error) }))
  const s3 = createS3Client(config)
  const sqs = createSqsClient(config)
  const redis = createRedisClient(config)
  return {
    config,
    db,
    storage: createObjectStore(s3, config.bucketName),
    queue: createMessageQueue(sqs, config.queueUrl),
    cache: createContentCache(redis, config, logger),
    logger,
    async close() {
      await db.destroy()
      redis.disconnect()
      s3.destroy()
      sqs.destroy()
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
