import { createHash } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export interface Digest {
  sha256: string
  size: number
  /** The bytes, when there were no more than `keepUpTo`. */
  bytes: Buffer | undefined
}

/** Bytes hashed between two young-generation collections (see `collectChunks`). */
const COLLECT_EVERY_BYTES = 4 * 1024 * 1024

let minorGc: (() => void) | undefined

/**
 * Frees the chunks already hashed. Each socket read hands the stream a fresh 64 KiB buffer that only a
 * GC returns, and V8 starts one only tens of MB of external memory later, so without this the hash
 * function's peak RSS grew with the object's size (docs/BENCHMARKS.md compares both in every run).
 * Its cost is in the same comparison.
 */
function collectChunks(): void {
  if (!minorGc) {
    // `gc` is only reachable with --expose-gc; setting the flag here keeps it out of every deploy's NODE_OPTIONS.
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as (options: { type: 'minor' }) => void
    minorGc = () => gc({ type: 'minor' })
  }
  minorGc()
}

/**
 * Hashes a stream without holding it: memory stays at a few chunks plus at most `keepUpTo` bytes,
 * whatever the stream's length.
 */
export async function digestStream(stream: AsyncIterable<Uint8Array>, keepUpTo: number): Promise<Digest> {
  const hash = createHash('sha256')
  let size = 0
  let sinceCollect = 0
  let kept: Uint8Array[] | undefined = []
  for await (const chunk of stream) {
    hash.update(chunk)
    size += chunk.length
    if (kept && size <= keepUpTo) kept.push(chunk)
    else kept = undefined
    sinceCollect += chunk.length
    if (sinceCollect >= COLLECT_EVERY_BYTES) {
      sinceCollect = 0
      collectChunks()
    }
  }
  return { sha256: hash.digest('hex'), size, bytes: kept && Buffer.concat(kept, size) }
}
