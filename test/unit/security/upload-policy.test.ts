import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../../../functions/core/config.js'
import { objectKeyFor, uploadPolicy } from '../../../functions/core/rules.js'
import { createObjectStore, createS3Client } from '../../../functions/core/storage.js'

// Signing a POST policy is local computation: no request leaves the process.
const config = loadConfig({
  AWS_REGION: 'us-east-1',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
  S3_FORCE_PATH_STYLE: 'true',
  FILES_BUCKET_NAME: 'files-bucket',
  FILES_QUEUE_URL: 'http://127.0.0.1:4566/queue/us-east-1/000000000000/files',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
  UPLOAD_URL_TTL_SECONDS: '900',
  MAX_FILE_SIZE: String(10 * 1024 ** 2),
})
const fileId = '6f1c8a3e-2b7d-4c1e-9a5f-0d3b2c1a4e5f'
const key = objectKeyFor('alice', fileId)
const signedAt = new Date('2026-11-29T12:00:00.000Z')

type Condition = Record<string, string> | [string, string | number, string | number]

async function presign(declaredSize: number | undefined, sha256?: string) {
  const store = createObjectStore(createS3Client(config), config.bucketName)
  const policy = uploadPolicy({ key, fileId, contentType: 'text/csv', declaredSize, maxFileSize: config.maxFileSize, sha256 })
  const post = await store.presignPost(policy, config.uploadUrlTtlSeconds)
  const decoded = JSON.parse(Buffer.from(post.fields.Policy!, 'base64').toString('utf8')) as { expiration: string; conditions: Condition[] }
  return { post, ...decoded }
}

/** The form fields a condition lets through, lower-cased as S3 compares them. */
function boundFields(conditions: Condition[]): Set<string> {
  const fields = new Set<string>()
  for (const condition of conditions) {
    if (!Array.isArray(condition)) Object.keys(condition).forEach((f) => fields.add(f.toLowerCase()))
    else if (condition[0] !== 'content-length-range') fields.add(String(condition[1]).replace(/^\$/, '').toLowerCase())
  }
  return fields
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(signedAt)
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test')
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test')
  vi.stubEnv('AWS_SESSION_TOKEN', '')
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllEnvs()
})

describe('the signed presigned-POST policy', () => {
  it('expires exactly the configured TTL after signing', async () => {
    const { expiration, post } = await presign(10)
    expect(expiration).toBe('2026-11-29T12:15:00Z')
    expect(post.fields['X-Amz-Date']).toBe('20261129T120000Z')
  })

  it('binds the exact key, bucket, Content-Type and file-id metadata with equality conditions', async () => {
    const { conditions } = await presign(10)
    expect(conditions).toEqual(
      expect.arrayContaining([
        ['eq', '$key', key],
        { key },
        { bucket: 'files-bucket' },
        ['eq', '$Content-Type', 'text/csv'],
        ['eq', '$x-amz-meta-file-id', fileId],
      ]),
    )
  })

  it('binds the size to exactly the declared size, or to 1 byte up to the maximum', async () => {
    const exact = (await presign(10)).conditions.filter((c) => Array.isArray(c) && c[0] === 'content-length-range')
    expect(exact).toEqual([['content-length-range', 10, 10]])
    const open = (await presign(undefined)).conditions.filter((c) => Array.isArray(c) && c[0] === 'content-length-range')
    expect(open).toEqual([['content-length-range', 1, config.maxFileSize]])
  })

  it('has no prefix conditions, which would let a client choose part of a value', async () => {
    const { conditions } = await presign(10)
    expect(conditions.filter((c) => Array.isArray(c) && c[0] === 'starts-with')).toEqual([])
  })

  it('permits exactly the fields the client is handed, so S3 refuses acl=public-read or any other extra field', async () => {
    const { conditions, post } = await presign(10)
    const handed = Object.keys(post.fields)
      .filter((f) => f !== 'Policy' && f !== 'X-Amz-Signature')
      .map((f) => f.toLowerCase())
    expect([...boundFields(conditions)].sort()).toEqual(
      ['bucket', 'content-type', 'key', 'x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-meta-file-id'].sort(),
    )
    expect([...boundFields(conditions)].sort()).toEqual([...new Set(handed)].sort())
    for (const forbidden of ['acl', 'x-amz-acl', 'x-amz-grant-read', 'success_action_redirect', 'redirect', 'cache-control', 'content-disposition', 'x-amz-website-redirect-location']) {
      expect(boundFields(conditions)).not.toContain(forbidden)
    }
  })

  it('hands the client the values the conditions demand', async () => {
    const { post } = await presign(10)
    expect(post.fields).toMatchObject({ key, bucket: 'files-bucket', 'Content-Type': 'text/csv', 'x-amz-meta-file-id': fileId })
    expect(post.url).toBe('http://127.0.0.1:4566/files-bucket')
  })

  it('binds a declared SHA-256 as the base64 checksum storage verifies, with its algorithm, and hands both over', async () => {
    const hex = createHash('sha256').update('a,b').digest('hex')
    const base64 = createHash('sha256').update('a,b').digest('base64')
    const { conditions, post } = await presign(3, hex)
    expect(conditions).toEqual(
      expect.arrayContaining([
        ['eq', '$x-amz-checksum-algorithm', 'SHA256'],
        ['eq', '$x-amz-checksum-sha256', base64],
      ]),
    )
    expect(post.fields).toMatchObject({ 'x-amz-checksum-algorithm': 'SHA256', 'x-amz-checksum-sha256': base64 })
    const handed = Object.keys(post.fields).filter((f) => f !== 'Policy' && f !== 'X-Amz-Signature')
    expect([...boundFields(conditions)].sort()).toEqual(handed.map((f) => f.toLowerCase()).sort())
    expect(Object.keys((await presign(3)).post.fields).filter((f) => f.startsWith('x-amz-checksum'))).toEqual([])
  })
})
