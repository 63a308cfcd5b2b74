import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import type { PartSource } from '../../client/src/index.js'

/** A file on disk as the uploader reads it: each part read on demand at its offset, so memory holds only parts in flight. */
export async function fileSource(path: string, size: number): Promise<PartSource & { close(): Promise<void> }> {
  const handle = await open(path, 'r')
  return {
    size,
    async read(start, end) {
      const buffer = Buffer.allocUnsafe(end - start)
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, start)
      if (bytesRead !== buffer.length) throw new Error(`${path} changed while it was being uploaded`)
      return buffer
    },
    close: () => handle.close(),
  }
}

/** SHA-256 of the file, read front to back: the parts go out in parallel and out of order. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
