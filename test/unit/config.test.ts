import { describe, expect, it } from 'vitest'
import { S3_MAX_OBJECT_SIZE } from '../../functions/core/aws-limits.js'
import { ConfigError, loadConfig } from '../../functions/core/config.js'

const env = {
  AWS_REGION: 'eu-west-1',
  FILES_BUCKET_NAME: 'bucket',
  FILES_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/q',
  DATABASE_URL: 'postgres://db/x',
  REDIS_URL: 'rediss://cache:6379',
}

describe('loadConfig', () => {
  it('parses numbers, flags and lists and freezes the result', () => {
    const config = loadConfig({ ...env, MAX_FILE_SIZE: '1048576', S3_FORCE_PATH_STYLE: 'true', ALLOWED_CONTENT_TYPES: 'Text/CSV, image/png' })
    expect(config.maxFileSize).toBe(1_048_576)
    expect(config.s3ForcePathStyle).toBe(true)
    expect(config.allowedContentTypes).toEqual(['text/csv', 'image/png'])
    expect(config.awsEndpointUrl).toBeUndefined()
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('names the missing variable', () => {
    const { FILES_QUEUE_URL: _, ...rest } = env
    expect(() => loadConfig(rest)).toThrow(new ConfigError('Missing required environment variable FILES_QUEUE_URL'))
  })

  it('names a variable that is not a number', () => {
    expect(() => loadConfig({ ...env, CACHE_MAX_BYTES: '1MB' })).toThrow(/CACHE_MAX_BYTES must be an integer/)
  })

  it('refuses an inline cap that would overflow a Lambda response', () => {
    expect(() => loadConfig({ ...env, CACHE_MAX_BYTES: String(5 * 1024 * 1024) })).toThrow(/CACHE_MAX_BYTES/)
  })

  it("defaults the maximum file size to S3's object maximum and refuses one above it", () => {
    expect(loadConfig(env).maxFileSize).toBe(10_000 * 5 * 1024 ** 3)
    expect(loadConfig({ ...env, MAX_FILE_SIZE: String(6 * 1024 ** 3) }).maxFileSize).toBe(6 * 1024 ** 3)
    expect(() => loadConfig({ ...env, MAX_FILE_SIZE: String(S3_MAX_OBJECT_SIZE + 1) })).toThrow(/MAX_FILE_SIZE/)
  })

  it('keeps the multipart threshold within a POST and the part size within S3 part limits', () => {
    expect(() => loadConfig({ ...env, MULTIPART_THRESHOLD: String(5 * 1024 ** 3 + 1) })).toThrow(/MULTIPART_THRESHOLD/)
    expect(() => loadConfig({ ...env, MULTIPART_PART_SIZE: String(5 * 1024 ** 2 - 1) })).toThrow(/MULTIPART_PART_SIZE/)
    expect(() => loadConfig({ ...env, MULTIPART_PART_SIZE: String(5 * 1024 ** 3 + 1) })).toThrow(/MULTIPART_PART_SIZE/)
  })
})
