import type { Deps } from './deps.js'
import { type FileView, toFileView } from './files.js'
import { listOwnedFiles, type ListPosition } from './files.repository.js'
import type { ListQuery } from './schemas.js'

const encodeCursor = ({ createdAtMicros, id }: ListPosition): string => `${createdAtMicros}.${id}`

// The schema's pattern admits only what decodes to a position Postgres accepts, so any cursor the
// document allows is a place in the listing (possibly past its end), never a refusal.
function decodeCursor(raw: string): ListPosition {
  const dot = raw.indexOf('.')
  return { createdAtMicros: BigInt(raw.slice(0, dot)), id: raw.slice(dot + 1).toLowerCase() }
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
  return { files: page.map((r) => toFileView(r.file)), next_cursor: rows.length > query.limit && last ? encodeCursor(last.position) : null }
}
