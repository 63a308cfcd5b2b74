import { z } from 'zod'
import { AppError } from './errors.js'
import type { Deps } from './deps.js'
import { type FileRecord, type FileView, toFileView } from './files.js'
import { listOwnedFiles } from './files.repository.js'
import type { ListQuery } from './schemas.js'

interface Cursor {
  createdAt: Date
  id: string
}

const encodeCursor = (file: FileRecord): string =>
  Buffer.from(JSON.stringify([file.createdAt.toISOString(), file.id])).toString('base64url')

const cursorShape = z.object({
  // Postgres has no year 0; every other four-digit year is within its range.
  createdAt: z.iso.datetime({ offset: true }).refine((s) => !s.startsWith('0000')),
  id: z.uuid(),
})

function decodeCursor(raw: string): Cursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as [unknown, unknown]
    // A cursor is client-held: anything Postgres would refuse (a non-UUID id, a date outside its range) must be a 400, not a 500.
    const cursor = cursorShape.parse({ createdAt, id })
    return { createdAt: new Date(cursor.createdAt), id: cursor.id }
  } catch {
    throw new AppError('VALIDATION_FAILED', 'cursor is not valid', [{ field: 'cursor', message: 'not a cursor from this API' }])
  }
}

/** One page of an owner's files, newest first, optionally for one external id. */
export async function listFiles(deps: Deps, ownerId: string, query: ListQuery): Promise<{ files: FileView[]; next_cursor: string | null }> {
  const rows = await listOwnedFiles(deps.db, ownerId, {
    externalId: query.external_id,
    limit: query.limit + 1,
    after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
  })
  const page = rows.slice(0, query.limit)
  const last = page.at(-1)
  return { files: page.map(toFileView), next_cursor: rows.length > query.limit && last ? encodeCursor(last) : null }
}
