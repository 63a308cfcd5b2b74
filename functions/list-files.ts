import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { listQuery } from './core/schemas.js'
import { listFiles } from './core/list-files.js'

export const handler = httpRoute({ query: listQuery }, async ({ query, ownerId }) => ({
  body: await listFiles(deps(), ownerId, query),
}))
