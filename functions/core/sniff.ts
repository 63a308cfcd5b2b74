import type { ContentInspector, InspectorFactory } from './inspection.js'
import { contentTypeVerdict } from './rules.js'

/** file-type's own sample size: most formats it knows are recognisable within it. */
const SNIFF_BYTES = 4100

/**
 * The type check of the hash stage: sniffs the first bytes of the object with `file-type` and
 * holds them against the declared Content-Type (`contentTypeVerdict`, which owns the rules).
 */
export const sniffContentType: InspectorFactory = (file): ContentInspector => {
  const head = Buffer.alloc(SNIFF_BYTES)
  let seen = 0
  return {
    name: 'content-type',
    wantsBytes: SNIFF_BYTES,
    update(chunk) {
      head.set(chunk, seen)
      seen += chunk.length
    },
    async finish() {
      // Loaded here, not at module scope: only the hash function sniffs, and every function loads deps.
      const { fileTypeFromBuffer } = await import('file-type')
      const detected = await fileTypeFromBuffer(head.subarray(0, seen))
      return contentTypeVerdict(file.contentType, detected?.mime)
    },
  }
}
