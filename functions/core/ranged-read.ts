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
  const inFlight: Promise<Buffer>[] = []
  const launch = (range: ByteRange) => {
    const fetching = fetchRange(storage, object, range)
    // Rejections are seen when the range's turn comes; this keeps an abandoned one from being unhandled.
    fetching.catch(() => undefined)
    inFlight.push(fetching)
  }
  let next = 0
  while (next < ranges.length && inFlight.length < window.concurrency) launch(ranges[next++]!)
  while (inFlight.length > 0) {
    const bytes = await inFlight.shift()!
    if (next < ranges.length) launch(ranges[next++]!)
    yield bytes
    // A short range (an object shorter than confirmed, possible only without versioning) ends the read.
    if (bytes.length < window.rangeBytes && inFlight.length > 0) return
  }
}

async function fetchRange(storage: ObjectStore, object: StoredObject, range: ByteRange): Promise<Buffer> {
  const stream = await storage.getStream(object, range)
  if (!stream) throw new ObjectGoneError(object.key)
  const bytes = Buffer.allocUnsafe(range.end - range.start)
  let filled = 0
  for await (const chunk of stream.body as AsyncIterable<Uint8Array>) {
    const room = bytes.length - filled
    bytes.set(room < chunk.length ? chunk.subarray(0, room) : chunk, filled)
    filled += Math.min(room, chunk.length)
  }
  return bytes.subarray(0, filled)
}
