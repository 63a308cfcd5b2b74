import { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  ListPartsCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
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
  /**
   * Removes every trace of `key`: aborts its unfinished multipart uploads (their parts go with
   * them) and deletes every version and delete marker, so a versioned bucket keeps nothing either.
   */
  erase(key: string): Promise<void>
  /** Adds `tags` to the pinned version's tags, keeping the others (GuardDuty's among them). */
  tag(object: StoredObject, tags: Record<string, string>): Promise<void>
  ping(): Promise<void>
  /** Starts a multipart upload bound to the key, Content-Type and file-id metadata; returns its upload id. */
  createMultipart(key: string, options: { contentType: string; fileId: string }): Promise<string>
  /** A presigned UploadPart URL that storage honours only for exactly `size` bytes (and `sha256`, if given). */
  presignPart(part: PartToSign, expiresInSeconds: number): Promise<string>
  /** Every part storage holds for the upload, across all ListParts pages; undefined when the upload is gone. */
  listParts(key: string, uploadId: string): Promise<StoredPart[] | undefined>
  /** Assembles the upload from `parts`; undefined when the upload is gone (completed or aborted). */
  completeMultipart(key: string, uploadId: string, parts: readonly StoredPart[], objectSize: number): Promise<{ versionId?: string } | undefined>
  /** Aborts the upload and frees its parts; an upload that is already gone is fine. */
  abortMultipart(key: string, uploadId: string): Promise<void>
  /** The multipart uploads in progress in the bucket, page by page. */
  listMultipartUploads(): AsyncIterable<{ key: string; uploadId: string; initiated: Date }[]>
}

export interface PartToSign {
  key: string
  uploadId: string
  partNumber: number
  size: number
  /** Base64 SHA-256 of the part: signed as the `x-amz-checksum-sha256` header the client must send. */
  sha256Base64?: string | undefined
}

export interface StoredPart {
  partNumber: number
  size: number
  etag: string
}

const isNoSuchUpload = (error: unknown): boolean => error instanceof S3ServiceException && error.name === 'NoSuchUpload'

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

    async createMultipart(key, { contentType, fileId }) {
      try {
        const created = await client.send(
          new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: contentType, Metadata: { 'file-id': fileId } }),
        )
        if (!created.UploadId) throw new Error('CreateMultipartUpload answered without an UploadId')
        return created.UploadId
      } catch (error) {
        return unavailable(error)
      }
    },

    presignPart({ key, uploadId, partNumber, size, sha256Base64 }, expiresInSeconds) {
      const command = new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        ContentLength: size,
        ...(sha256Base64 ? { ChecksumSHA256: sha256Base64 } : {}),
      })
      // The presigner leaves Content-Length unsigned and hoists checksums into the query, where S3 ignores them:
      // signed as headers, a body of another length or digest fails the signature or the checksum.
      return getSignedUrl(client, command, {
        expiresIn: expiresInSeconds,
        signableHeaders: new Set(['content-length']),
        unhoistableHeaders: new Set(sha256Base64 ? ['x-amz-checksum-sha256'] : []),
      })
    },

    async listParts(key, uploadId) {
      const parts: StoredPart[] = []
      let marker: string | undefined
      try {
        do {
          const page = await client.send(
            new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId, ...(marker ? { PartNumberMarker: marker } : {}) }),
          )
          for (const p of page.Parts ?? []) {
            parts.push({ partNumber: p.PartNumber!, size: p.Size ?? 0, etag: p.ETag ?? '' })
          }
          marker = page.IsTruncated ? page.NextPartNumberMarker : undefined
        } while (marker)
      } catch (error) {
        if (isNoSuchUpload(error)) return undefined
        return unavailable(error)
      }
      return parts
    },

    async completeMultipart(key, uploadId, parts, objectSize) {
      try {
        const done = await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            // Storage checks the assembled size too (x-amz-mp-object-size).
            MpuObjectSize: objectSize,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          }),
        )
        return done.VersionId ? { versionId: done.VersionId } : {}
      } catch (error) {
        if (isNoSuchUpload(error)) return undefined
        return unavailable(error)
      }
    },

    async abortMultipart(key, uploadId) {
      try {
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
      } catch (error) {
        if (isNoSuchUpload(error)) return
        unavailable(error)
      }
    },

    async *listMultipartUploads() {
      let keyMarker: string | undefined
      let uploadIdMarker: string | undefined
      do {
        let page
        try {
          page = await client.send(
            new ListMultipartUploadsCommand({
              Bucket: bucket,
              ...(keyMarker ? { KeyMarker: keyMarker } : {}),
              ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
            }),
          )
        } catch (error) {
          return unavailable(error)
        }
        yield (page.Uploads ?? []).map((u) => ({ key: u.Key!, uploadId: u.UploadId!, initiated: u.Initiated ?? new Date(0) }))
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined
        uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined
      } while (keyMarker)
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
