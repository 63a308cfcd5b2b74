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

/**
 * The build of the hasher whose saved states the checkpoints hold. A state saved by hash-wasm is bound
 * to its WASM build (package.json pins it exactly), so a checkpoint carries this tag and one with
 * another tag is discarded. test/unit/hashing.test.ts fails when the installed version and the tag part.
 */
export const HASHER_TAG = 'hash-wasm@4.13.0/sha256'

/** A hash in progress; a resumable one can be saved to and resumed from a checkpoint. */
export interface ResumableHash {
  /** Bytes hashed so far. */
  readonly offset: number
  /** False for node:crypto's hash, whose state cannot be saved. */
  readonly resumable: boolean
  update(chunk: Uint8Array): void
  /** The state and offset, sealed: `resumeHash` refuses it if a byte of it changes. */
  save(): Buffer
  digest(): string
}

/**
 * node:crypto's SHA-256, for objects one invocation hashes whole: it uses the CPU's SHA instructions and
 * ran ~10x faster than hash-wasm's WASM build here (docs/BENCHMARKS.md, "Hash stage"), but cannot be saved.
 */
export function singlePassHash(): ResumableHash {
  const hash = createHash('sha256')
  let offset = 0
  return {
    resumable: false,
    get offset() {
      return offset
    },
    update(chunk) {
      hash.update(chunk)
      offset += chunk.length
    },
    save() {
      throw new Error('a single-pass hash cannot be saved')
    },
    digest: () => hash.digest('hex'),
  }
}

export interface SavedCheckpoint {
  tag: string | null
  offset: number
  sealed: Buffer | null
}

const SEAL_BYTES = 32

const sealOf = (tag: string, offset: number, state: Uint8Array): Buffer =>
  createHash('sha256').update(`${tag}\n${offset}\n`).update(state).digest()

/**
 * The SHA-256 to continue from: the checkpoint's when it comes from this hasher build, its seal
 * matches and the hasher takes its state; otherwise a fresh one from byte 0, with the reason
 * (a checkpoint is never misread).
 */
export async function resumeHash(checkpoint: SavedCheckpoint | undefined): Promise<{ hash: ResumableHash; discarded?: string }> {
  const { createSHA256 } = await import('hash-wasm')
  const hasher = await createSHA256()
  let offset = 0
  let discarded: string | undefined
  if (checkpoint?.sealed && checkpoint.offset > 0) {
    const { tag, sealed } = checkpoint
    const state = sealed.subarray(0, Math.max(0, sealed.length - SEAL_BYTES))
    if (tag !== HASHER_TAG) discarded = `checkpoint from another hasher (${tag})`
    else if (sealed.length <= SEAL_BYTES || !sealOf(tag, checkpoint.offset, state).equals(sealed.subarray(state.length))) {
      discarded = 'checkpoint seal does not match'
    } else {
      try {
        hasher.load(state)
        offset = checkpoint.offset
      } catch (error) {
        discarded = `hasher refused the checkpoint: ${String(error)}`
      }
    }
    if (discarded) hasher.init()
  } else {
    hasher.init()
  }
  return {
    discarded,
    hash: {
      resumable: true,
      get offset() {
        return offset
      },
      update(chunk) {
        hasher.update(chunk)
        offset += chunk.length
      },
      save() {
        const state = hasher.save()
        return Buffer.concat([state, sealOf(HASHER_TAG, offset, state)])
      },
      digest: () => hasher.digest('hex'),
    },
  }
}

/** Frees hashed chunks every 4 MiB (see `collectChunks`); call it with each chunk's length. */
export function chunkCollector(): (bytes: number) => void {
  let since = 0
  return (bytes) => {
    since += bytes
    if (since >= COLLECT_EVERY_BYTES) {
      since = 0
      collectChunks()
    }
  }
}
