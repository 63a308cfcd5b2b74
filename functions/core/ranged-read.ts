import type { StoredObject } from './files.js'
import type { ByteRange, ObjectStore } from './storage.js'

/** The pinned version is gone from storage. */
export class ObjectGoneError extends Error {
  override readonly name = 'ObjectGoneError'
}

export interface ReadWindow {
  /** Bytes per ranged GetObject. */
  rangeBytes: number
  /** Ranges in flight at once: memory holds at most this many ranges. */
  concurrency: number
}

/**
 * The object's bytes from `start` to its confirmed end, in order. Small remainders (one range or
 * less) are one streamed GetObject; larger ones are fetched as ranges, `concurrency` at a time, so
 * several connections fill one ordered stream (a single S3 connection delivers ~100 MB/s, far below
 * the hasher) while memory stays at `concurrency × rangeBytes`.
 *
 * Chunks are handed on as the sockets deliver them, never gathered into a range-sized copy: the head
 * range is hashed while it arrives (the hasher's work overlaps its own range's transfer, and the
 * event loop is never held for a whole range), and a range that lands early waits as the socket's own
 * chunks, so the window costs its bytes once. Gathering each range into one buffer made the read's
 * peak memory ~4.7 windows instead of ~2.7 (docs/CAPACITY.md §6).
 */
export async function* readInOrder(
  storage: ObjectStore,
  object: StoredObject,
  start: number,
  window: ReadWindow,
): AsyncGenerator<Uint8Array> {
  if (object.size - start <= window.rangeBytes || window.concurrency <= 1) {
    const stream = await storage.getStream(object, { start, end: object.size })
    if (!stream) throw new ObjectGoneError(object.key)
    yield* stream.body as AsyncIterable<Uint8Array>
    return
  }

  const ranges: ByteRange[] = []
  for (let at = start; at < object.size; at += window.rangeBytes) ranges.push({ start: at, end: Math.min(object.size, at + window.rangeBytes) })
  const inFlight: RangeFetch[] = []
  let next = 0
  try {
    while (next < ranges.length && inFlight.length < window.concurrency) inFlight.push(fetchRange(storage, object, ranges[next++]!))
    while (inFlight.length > 0) {
      const head = inFlight[0]!
      for (let chunk = await head.next(); chunk; chunk = await head.next()) yield chunk
      inFlight.shift()
      if (next < ranges.length) inFlight.push(fetchRange(storage, object, ranges[next++]!))
      // A short range (an object shorter than confirmed, possible only without versioning) ends the read.
      if (head.received < head.range.end - head.range.start && inFlight.length > 0) return
    }
  } finally {
    // An abandoned read (a failed check, a hand-off) stops the ranges still arriving.
    for (const fetch of inFlight) fetch.cancel()
  }
}

interface RangeFetch {
  readonly range: ByteRange
  /** Bytes delivered so far. */
  readonly received: number
  /** The next chunk in order, waiting for it if needed; undefined once the range is complete. */
  next(): Promise<Uint8Array | undefined>
  cancel(): void
}

/** Starts reading `range` at once, queueing its chunks until `next` takes them. */
function fetchRange(storage: ObjectStore, object: StoredObject, range: ByteRange): RangeFetch {
  const queued: Uint8Array[] = []
  let received = 0
  let done = false
  let failure: { error: unknown } | undefined
  let cancelled = false
  let wake: (() => void) | undefined
  let body: { destroy?: () => void } | undefined
  const notify = () => {
    const waiting = wake
    wake = undefined
    waiting?.()
  }
  void (async () => {
    try {
      const stream = await storage.getStream(object, range)
      if (!stream) throw new ObjectGoneError(object.key)
      body = stream.body
      if (cancelled) return stream.body.destroy()
      for await (const chunk of stream.body as AsyncIterable<Uint8Array>) {
        queued.push(chunk)
        received += chunk.length
        notify()
      }
    } catch (error) {
      if (!cancelled) failure = { error }
    } finally {
      done = true
      notify()
    }
  })()
  return {
    range,
    get received() {
      return received
    },
    async next() {
      for (;;) {
        if (queued.length > 0) return queued.shift()
        if (failure) throw failure.error
        if (done) return undefined
        await new Promise<void>((resolve) => (wake = resolve))
      }
    },
    cancel() {
      cancelled = true
      body?.destroy?.()
    },
  }
}
