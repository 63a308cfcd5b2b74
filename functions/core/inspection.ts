import type { FailureCode, FileRecord } from './files.js'

/**
 * What an inspector concluded about a file's bytes. `fail` ends the file FAILED with `code`;
 * `retry-later` leaves it for SQS to redeliver (a scanner that is down must never pass a file).
 * A new kind (the scanner's quarantine) must be handled where `syncFile` applies verdicts: the
 * switch there is exhaustive, so the compiler points at it.
 */
export type Verdict =
  | { readonly kind: 'ok' }
  | { readonly kind: 'fail'; readonly code: FailureCode; readonly message: string }
  | { readonly kind: 'retry-later'; readonly reason: string }

export const OK: Verdict = Object.freeze({ kind: 'ok' })

/**
 * Looks at a file's bytes on the hash stage's single read of the object. The stage hands it every
 * chunk from the start of the object, in order, until it has seen `wantsBytes` (or the object ends),
 * then awaits `finish()` once. A verdict other than `ok` stops the read at once.
 *
 * Inspectors are created only when hashing starts at byte 0, and the stage writes a checkpoint only
 * after every inspector has finished with `ok`: a file whose hash resumes in a later invocation has
 * already passed them all. An inspector that wants the whole object (a malware scan) therefore keeps
 * the file from being handed to a continuation; its factory should decline files larger than one
 * invocation can read (the scanner's size limit does that).
 *
 * @example
 * const lengthAtLeast = (min: number): InspectorFactory => () => {
 *   let seen = 0
 *   return {
 *     name: 'length', wantsBytes: min,
 *     update: (chunk) => void (seen += chunk.length),
 *     finish: async () => (seen >= min ? OK : { kind: 'fail', code: 'SIZE_MISMATCH', message: 'too short' }),
 *   }
 * }
 */
export interface ContentInspector {
  /** For logs. */
  readonly name: string
  /** Bytes from the start of the object it needs; `Infinity` for all of them. */
  readonly wantsBytes: number
  /** The next bytes, never past `wantsBytes`; a returned promise is awaited before the next chunk (backpressure). */
  update(chunk: Uint8Array): void | Promise<void>
  finish(): Promise<Verdict>
}

/** Creates the inspector for one file, or declines the file (undefined). */
export type InspectorFactory = (file: FileRecord) => ContentInspector | undefined

/**
 * Feeds chunks, in order, to the inspectors created for one file, and finishes each once it has
 * had what it wants. Returns the first verdict that is not `ok`.
 */
export class InspectionRun {
  private readonly pending: { inspector: ContentInspector; seen: number }[]

  constructor(inspectors: readonly ContentInspector[]) {
    this.pending = inspectors.map((inspector) => ({ inspector, seen: 0 }))
  }

  /** True while some inspector has not finished. */
  get busy(): boolean {
    return this.pending.length > 0
  }

  async update(chunk: Uint8Array): Promise<Verdict> {
    for (const entry of [...this.pending]) {
      const wanted = entry.inspector.wantsBytes - entry.seen
      const part = wanted < chunk.length ? chunk.subarray(0, wanted) : chunk
      await entry.inspector.update(part)
      entry.seen += part.length
      if (entry.seen >= entry.inspector.wantsBytes) {
        const verdict = await this.settle(entry)
        if (verdict.kind !== 'ok') return verdict
      }
    }
    return OK
  }

  /** The object ended: finishes every inspector still waiting for bytes. */
  async end(): Promise<Verdict> {
    for (const entry of [...this.pending]) {
      const verdict = await this.settle(entry)
      if (verdict.kind !== 'ok') return verdict
    }
    return OK
  }

  private async settle(entry: { inspector: ContentInspector }): Promise<Verdict> {
    this.pending.splice(this.pending.indexOf(entry as (typeof this.pending)[number]), 1)
    return entry.inspector.finish()
  }
}
