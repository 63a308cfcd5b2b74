import { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
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
import type { StoredObject } from './files.js'
import type { UploadPolicy } from './rules.js'

/** Bytes `start` (inclusive) to `end` (exclusive) of an object. */
export interface ByteRange {
  start: number
  end: number
}

/**
 * What the domain needs from object storage. Every read of a confirmed file takes its `StoredObject`:
 * the version confirm saw (the bucket is versioned, so a later POST to the same key adds a version
 * and never changes that one) and a range that ends at the confirmed size, so a read can neither
 * return other bytes nor more of them.
 */
export interface ObjectStore {
  presignPost(policy: UploadPolicy, expiresInSeconds: number): Promise<{ url: string; fields: Record<string, string> }>
  presignGet(
    object: StoredObject,
    options: { expiresInSeconds: number; contentType: string; contentDisposition: string },
  ): Promise<string>
  /** The current version's size and id (null in a bucket without versioning), or undefined when there is no such object. */
  head(key: string): Promise<{ size: number; versionId: string | null } | undefined>
  /**
   * A stream of the pinned version's bytes within `range` (default: all confirmed bytes), never past
   * the confirmed size; undefined when that version is gone. `size` is the length the stream will have.
   */
  getStream(object: StoredObject, range?: ByteRange): Promise<{ body: Readable; size: number } | undefined>
  deleteMany(keys: readonly string[]): Promise<void>
  /**
   * Removes every trace of `key`: aborts its unfinished multipart uploads (their parts go with
   * them) and deletes every version and delete marker, so a versioned bucket keeps nothing either.
   */
  erase(key: string): Promise<void>
  /** Adds `tags` to the pinned version's tags, keeping the others (GuardDuty's among them). */
  tag(object: StoredObject, tags: Record<string, string>): Promise<void>
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

const versionOf = (object: StoredObject): { VersionId?: string } => (object.versionId ? { VersionId: object.versionId } : {})

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

    presignGet(object, { expiresInSeconds, contentType, contentDisposition }) {
      const command = new GetObjectCommand({
        Bucket: bucket,
        Key: object.key,
        ...versionOf(object),
        ResponseContentType: contentType,
        ResponseContentDisposition: contentDisposition,
      })
      return getSignedUrl(client, command, { expiresIn: expiresInSeconds })
    },

    async head(key) {
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
        return { size: head.ContentLength ?? 0, versionId: head.VersionId ?? null }
      } catch (error) {
        if (isMissing(error)) return undefined
        return unavailable(error)
      }
    },

    async getStream(object, range = { start: 0, end: object.size }) {
      const end = Math.min(range.end, object.size)
      if (range.start >= end) return { body: Readable.from([]), size: 0 }
      try {
        const response = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: object.key, ...versionOf(object), Range: `bytes=${range.start}-${end - 1}` }),
        )
        return { body: response.Body as Readable, size: response.ContentLength ?? 0 }
      } catch (error) {
        if (isMissing(error)) return undefined
        // The stored object is shorter than the range starts (only possible without versioning): no bytes there.
        if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 416) return { body: Readable.from([]), size: 0 }
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

    async tag(object, tags) {
      try {
        const target = { Bucket: bucket, Key: object.key, ...versionOf(object) }
        const { TagSet = [] } = await client.send(new GetObjectTaggingCommand(target))
        const merged = new Map(TagSet.map((t) => [t.Key, t.Value]))
        for (const [name, value] of Object.entries(tags)) merged.set(name, value)
        await client.send(
          new PutObjectTaggingCommand({
            ...target,
            Tagging: { TagSet: [...merged].map(([Key, Value]) => ({ Key, Value })) },
          }),
        )
      } catch (error) {
        unavailable(error)
      }
    },

    async erase(key) {
      try {
        let uploadMarker: { KeyMarker?: string; UploadIdMarker?: string } = {}
        for (;;) {
          const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key, ...uploadMarker }))
          for (const upload of page.Uploads ?? []) {
            if (upload.Key !== key) continue
            await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }))
          }
          if (!page.IsTruncated) break
          uploadMarker = { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker }
        }
        let versionMarker: { KeyMarker?: string; VersionIdMarker?: string } = {}
        for (;;) {
          const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key, ...versionMarker }))
          const versions = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]
            .filter((v) => v.Key === key)
            .map((v) => ({ Key: key, VersionId: v.VersionId }))
          if (versions.length) {
            const result = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: versions, Quiet: true } }))
            if (result.Errors?.length) throw new Error(`could not delete ${result.Errors.length} version(s) of ${key}: ${result.Errors[0]!.Code}`)
          }
          if (!page.IsTruncated) break
          versionMarker = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker }
        }
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
