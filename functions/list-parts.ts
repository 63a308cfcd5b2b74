import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { listUploadedParts } from './core/parts.js'
import { fileIdParams } from './core/schemas.js'

export const handler = httpRoute({ params: fileIdParams }, async ({ params, ownerId }) => ({
  body: await listUploadedParts(deps(), ownerId, params.id),
}))
