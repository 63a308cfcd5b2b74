import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { digestStream, HASHER_TAG, resumeHash } from '../../functions/core/hashing.js'

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

describe('resumeHash', () => {
  const bytes = randomBytes(100_000)
  const expected = createHash('sha256').update(bytes).digest('hex')

  it('is tagged with the hash-wasm build installed, so a dependency bump cannot reuse old states', async () => {
    const { readFileSync } = await import('node:fs')
    const { version } = JSON.parse(readFileSync(new URL('../../node_modules/hash-wasm/package.json', import.meta.url), 'utf8'))
    expect(HASHER_TAG).toBe(`hash-wasm@${version}/sha256`)
  })

  it('continues from a saved checkpoint to the one-shot digest', async () => {
    const first = (await resumeHash(undefined)).hash
    first.update(bytes.subarray(0, 33_333))
    const checkpoint = { tag: HASHER_TAG, offset: first.offset, sealed: first.save() }
    const { hash, discarded } = await resumeHash(checkpoint)
    expect(discarded).toBeUndefined()
    expect(hash.offset).toBe(33_333)
    hash.update(bytes.subarray(33_333))
    expect(hash.digest()).toBe(expected)
  })

  it('discards a checkpoint whose offset, tag or bytes were changed, and starts from 0', async () => {
    const first = (await resumeHash(undefined)).hash
    first.update(bytes.subarray(0, 1000))
    const sealed = first.save()
    const flipped = Buffer.from(sealed)
    flipped[10]! ^= 1
    for (const checkpoint of [
      { tag: HASHER_TAG, offset: 999, sealed },
      { tag: 'hash-wasm@4.12.0/sha256', offset: 1000, sealed },
      { tag: HASHER_TAG, offset: 1000, sealed: flipped },
      { tag: HASHER_TAG, offset: 1000, sealed: Buffer.alloc(8) },
    ]) {
      const { hash, discarded } = await resumeHash(checkpoint)
      expect(discarded).toBeDefined()
      expect(hash.offset).toBe(0)
      hash.update(bytes)
      expect(hash.digest()).toBe(expected)
    }
  })
})
