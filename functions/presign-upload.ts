import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { presignRequest } from './core/schemas.js'
import { presignUpload } from './core/presign.js'

export const handler = httpRoute({ body: presignRequest, status: 201 }, async ({ body, ownerId }) => ({
  body: await presignUpload(deps(), ownerId, body),
}))
