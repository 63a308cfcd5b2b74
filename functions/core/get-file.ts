import { fileNotFound } from './errors.js'
import type { Deps } from './deps.js'
import { CONFIRMED_STATUSES, type FileView, storedObjectOf, toFileView } from './files.js'
import { findOwnedFiles } from './files.repository.js'
import { attachmentDisposition, isTextContentType, safeDownloadContentType } from './rules.js'

export interface GetFileResult {
  body: {
    file: FileView
    content: string | null
    content_encoding: 'utf-8' | 'base64' | null
    download_url: string | null
  }
  cache: 'HIT' | 'MISS' | undefined
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function encodeContent(contentType: string, bytes: Buffer): { content: string; content_encoding: 'utf-8' | 'base64' } {
  if (isTextContentType(contentType)) {
    try {
      return { content: utf8.decode(bytes), content_encoding: 'utf-8' }
    } catch {
      // Declared as text but not valid UTF-8: base64 keeps the bytes intact.
    }
  }
  return { content: bytes.toString('base64'), content_encoding: 'base64' }
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/**
 * A file's metadata and, once SYNCED and small, its content: from the cache when it is there,
 * else from storage (re-caching it). Larger files get a short-lived download URL instead.
 */
export async function getFile(deps: Deps, ownerId: string, fileId: string): Promise<GetFileResult> {
  const { cache, storage, config } = deps
  const file = (await findOwnedFiles(deps.db, ownerId, [fileId])).get(fileId)
  if (!file) throw fileNotFound()

  const result: GetFileResult = {
    body: { file: toFileView(file), content: null, content_encoding: null, download_url: null },
    cache: undefined,
  }
  const stored = storedObjectOf(file)
  const inline = file.status === 'SYNCED' && stored !== undefined && stored.size <= config.cacheMaxBytes
  if (inline) {
    let bytes = await cache.get(file.id)
    result.cache = bytes ? 'HIT' : 'MISS'
    if (!bytes) {
      // Pinned to the confirmed version and size: whatever was POSTed to the key since, this reads the hashed bytes.
      const object = await storage.getStream(stored)
      if (object) {
        bytes = await readAll(object.body)
        await cache.set(file.id, bytes)
      }
    }
    if (bytes) Object.assign(result.body, encodeContent(file.contentType, bytes))
  }
  // With a malware scanner, nothing is downloadable before its verdict: only a SYNCED file passed the scan.
  const downloadable = deps.scanner ? file.status === 'SYNCED' : CONFIRMED_STATUSES.includes(file.status)
  if (result.body.content === null && stored && downloadable) {
    result.body.download_url = await storage.presignGet(stored, {
      expiresInSeconds: config.downloadUrlTtlSeconds,
      contentType: safeDownloadContentType(file.contentType),
      contentDisposition: attachmentDisposition(file.filename),
    })
  }
  return result
}
