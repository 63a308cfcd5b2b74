import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { digestStream } from '../../functions/core/hashing.js'

const chunks = (bytes: Buffer, size: number): Readable =>
  Readable.from(Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)))

describe('digestStream', () => {
  const bytes = randomBytes(10_000)
  const expected = createHash('sha256').update(bytes).digest('hex')

  it('hashes a chunked stream and keeps the bytes when they fit', async () => {
    const digest = await digestStream(chunks(bytes, 999), 10_000)
    expect(digest).toEqual({ sha256: expected, size: 10_000, bytes })
  })

  it('drops the bytes as soon as the stream outgrows the cap, and still hashes all of it', async () => {
    const digest = await digestStream(chunks(bytes, 999), 9_999)
    expect(digest).toEqual({ sha256: expected, size: 10_000, bytes: undefined })
  })

  it('hashes an empty stream', async () => {
    const digest = await digestStream(Readable.from([]), 10)
    expect(digest.sha256).toBe(createHash('sha256').digest('hex'))
    expect(digest.size).toBe(0)
  })
})
