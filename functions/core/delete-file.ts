import type { Deps } from './deps.js'
import { fileNotFound } from './errors.js'
import type { FileRecord } from './files.js'
import { findFile, findUnpurged, markDeleted, markPurged } from './files.repository.js'
import { publishFileEvents } from './outbox.js'

/**
 * Deletes an owner's file from any state: the row becomes a DELETED tombstone with its
 * `file.deleted` event, then the object (every version, any unfinished multipart upload) and the
 * cache entry are removed. Deleting again succeeds and changes nothing; another owner's file is
 * not found. Its event is published at once (`publishFileEvents`). When storage or the cache cannot be reached the delete still stands: the sweeper
 * finishes the purge (`purgeDeletedFiles`).
 */
export async function deleteFile(deps: Deps, ownerId: string, fileId: string): Promise<void> {
  const deleted = await markDeleted(deps.db, ownerId, fileId)
  if (!deleted) {
    const tombstone = await findFile(deps.db, fileId)
    if (tombstone?.ownerId === ownerId && tombstone.status === 'DELETED') return
    throw fileNotFound()
  }
  try {
    await purge(deps, deleted)
  } catch (error) {
    deps.logger.warn('deleted file not purged yet; the sweeper retries', { file_id: fileId, error: String(error) })
  }
  // After the purge, so a receiver of file.deleted finds the object already gone.
  await publishFileEvents(deps, [fileId])
}

async function purge(deps: Deps, file: Pick<FileRecord, 'id' | 'objectKey'>): Promise<void> {
  await deps.storage.erase(file.objectKey)
  await deps.cache.evict(file.id)
  await markPurged(deps.db, file.id)
}

/**
 * Finishes purges that failed, and purges again deleted files whose presigned upload was still
 * open when they were purged (a client holding it could have stored the object afterwards).
 */
export async function purgeDeletedFiles(deps: Deps, limit: number): Promise<number> {
  let purged = 0
  for (const file of await findUnpurged(deps.db, limit)) {
    try {
      await purge(deps, file)
      purged += 1
    } catch (error) {
      deps.logger.warn('purge of a deleted file failed; next sweep retries', { file_id: file.id, error: String(error) })
    }
  }
  return purged
}
