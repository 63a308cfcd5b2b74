import type { Readable } from 'node:stream'
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3'
import { createPresignedPost } from '@aws-sdk/s3-presigned-post'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { Agent } from 'node:https'
import { Agent as HttpAgent } from 'node:http'
import type { Config } from './config.js'
import { DependencyUnavailableError } from './errors.js'
import type { UploadPolicy } from './rules.js'

/** What the domain needs from object storage. */
export interface ObjectStore {
  presignPost(policy: UploadPolicy, expiresInSeconds: number): Promise<{ url: string; fields: Record<string, string> }>
  presignGet(key: string, options: { expiresInSeconds: number; contentType: string; contentDisposition: string }): Promise<string>
  /** The object's size, or undefined when there is no such object. */
  head(key: string): Promise<{ size: number } | undefined>
  /** A stream of the object's bytes, or undefined when there is no such object. */
  getStream(key: string): Promise<{ body: Readable; size: number } | undefined>
  deleteMany(keys: readonly string[]): Promise<void>
  /** Adds `tags` to the object's tags, keeping the others (GuardDuty's among them). */
  tag(key: string, tags: Record<string, string>): Promise<void>
  ping(): Promise<void>
}

const isMissing = (error: unknown): boolean =>
  error instanceof S3ServiceException &&
  (error.name === 'NotFound' || error.name === 'NoSuchKey' || error.$metadata.httpStatusCode === 404)

const unavailable = (error: unknown): never => {
  if (error instanceof S3ServiceException && error.$metadata.httpStatusCode !== undefined && error.$metadata.httpStatusCode < 500) {
    throw error
  }
  throw new DependencyUnavailableError('storage', { cause: error })
}

export function createS3Client(config: Config): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: 64 }
  return new S3Client({
    region: config.region,
    forcePathStyle: config.s3ForcePathStyle,
    ...(config.awsEndpointUrl ? { endpoint: config.awsEndpointUrl } : {}),
    // Presigned POST policies and GET URLs must not carry SDK-added checksum parameters the client cannot send.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new Agent(agentOptions),
      connectionTimeout: 3_000,
      requestTimeout: 30_000,
    }),
  })
}

export function createObjectStore(client: S3Client, bucket: string): ObjectStore {
  return {
    async presignPost(policy, expiresInSeconds) {
      const post = await createPresignedPost(client, {
        Bucket: bucket,
        Key: policy.key,
        Conditions: policy.conditions,
        Fields: policy.fields,
        Expires: expiresInSeconds,
      })
      return { url: post.url, fields: post.fields }
    },

    presignGet(key, { expiresInSeconds, contentType, contentDisposition }) {
      const command = new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        ResponseContentType: contentType,
        ResponseContentDisposition: contentDisposition,
      })
      return getSignedUrl(client, command, { expiresIn: expiresInSeconds })
    },

    async head(key) {
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
        return { size: head.ContentLength ?? 0 }
      } catch (error) {
        if (isMissing(error)) return undefined
        return unavailable(error)
      }
    },

    async getStream(key) {
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        return { body: object.Body as Readable, size: object.ContentLength ?? 0 }
      } catch (error) {
        if (isMissing(error)) return undefined
        return unavailable(error)
      }
    },

    async deleteMany(keys) {
      // DeleteObjects takes at most 1,000 keys per request.
      for (let i = 0; i < keys.length; i += 1000) {
        const chunk = keys.slice(i, i + 1000)
        try {
          await client.send(
            new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true } }),
          )
        } catch (error) {
          unavailable(error)
        }
      }
    },

    async tag(key, tags) {
      try {
        const { TagSet = [] } = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))
        const merged = new Map(TagSet.map((t) => [t.Key, t.Value]))
        for (const [name, value] of Object.entries(tags)) merged.set(name, value)
        await client.send(
          new PutObjectTaggingCommand({
            Bucket: bucket,
            Key: key,
            Tagging: { TagSet: [...merged].map(([Key, Value]) => ({ Key, Value })) },
          }),
        )
      } catch (error) {
        unavailable(error)
      }
    },

    async ping() {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }))
      } catch (error) {
        throw new DependencyUnavailableError('storage', { cause: error })
      }
    },
  }
}
