import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { ObjectGoneError, readInOrder } from '../../functions/core/ranged-read.js'
import type { ByteRange, ObjectStore } from '../../functions/core/storage.js'

const bytes = randomBytes(100_000)
const object = { key: 'k', versionId: null, size: bytes.length }
const window = { rangeBytes: 10_000, concurrency: 3 }

/**
 * A store serving `bytes` in 1,000-byte chunks, where each range's chunks are delayed by `delayOf(range)` ms, so
 * later ranges can finish first. It records what is in flight and which streams were destroyed.
 */
function fakeStore(options: { delayOf?: (range: ByteRange) => number; stored?: Buffer; gone?: boolean } = {}) {
  const stored = options.stored ?? bytes
  const state = { inFlight: 0, maxInFlight: 0, requests: [] as ByteRange[], destroyed: 0 }
  const store = {
    async getStream(_object: unknown, range: ByteRange) {
      if (options.gone) return undefined
      state.requests.push(range)
      state.inFlight += 1
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight)
      const slice = stored.subarray(range.start, Math.min(range.end, stored.length))
      const delay = options.delayOf?.(range) ?? 0
      const body = Readable.from(
        (async function* () {
          try {
            for (let at = 0; at < slice.length; at += 1000) {
              await sleep(delay)
              yield slice.subarray(at, at + 1000)
            }
          } finally {
            state.inFlight -= 1
          }
        })(),
      )
      body.on('close', () => body.readableEnded || (state.destroyed += 1))
      return { body, size: slice.length }
    },
  } as unknown as ObjectStore
  return { store, state }
}

const collect = async (chunks: AsyncIterable<Uint8Array>) => {
  const out: Uint8Array[] = []
  for await (const chunk of chunks) out.push(chunk)
  return Buffer.concat(out)
}

describe('readInOrder', () => {
  it('hands every byte on in order when later ranges arrive first, never more ranges in flight than the window', async () => {
    // The first range of each window is the slowest, so the ones after it are complete and waiting.
    const { store, state } = fakeStore({ delayOf: (r) => ((r.start / window.rangeBytes) % 3 === 0 ? 3 : 0) })
    expect((await collect(readInOrder(store, object, 0, window))).equals(bytes)).toBe(true)
    expect(state.requests).toHaveLength(10)
    expect(state.maxInFlight).toBeLessThanOrEqual(window.concurrency)
  })

  it('starts at an offset that is not a range boundary', async () => {
    const { store, state } = fakeStore()
    expect((await collect(readInOrder(store, object, 12_345, window))).equals(bytes.subarray(12_345))).toBe(true)
    expect(state.requests[0]).toEqual({ start: 12_345, end: 22_345 })
    expect(state.requests.at(-1)!.end).toBe(bytes.length)
  })

  it('hands chunks on as they arrive rather than once their range is whole', async () => {
    const { store } = fakeStore({ delayOf: () => 2 })
    const reader = readInOrder(store, object, 0, window)
    const first = await reader.next()
    expect((first.value as Uint8Array).length).toBe(1000)
    await reader.return(undefined)
  })

  it('ends at a short range: an object shorter than confirmed yields only what storage holds', async () => {
    const { store } = fakeStore({ stored: bytes.subarray(0, 25_000) })
    expect((await collect(readInOrder(store, object, 0, window))).equals(bytes.subarray(0, 25_000))).toBe(true)
  })

  it('throws ObjectGoneError when the pinned version is gone', async () => {
    const { store } = fakeStore({ gone: true })
    await expect(collect(readInOrder(store, object, 0, window))).rejects.toBeInstanceOf(ObjectGoneError)
  })

  it('stops the ranges still arriving when the reader is abandoned', async () => {
    const { store, state } = fakeStore({ delayOf: () => 5 })
    for await (const _ of readInOrder(store, object, 0, window)) break
    await sleep(20)
    expect(state.destroyed).toBe(window.concurrency)
    expect(state.inFlight).toBe(0)
  })
})
