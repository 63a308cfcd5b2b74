import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { confirmRequest } from './core/schemas.js'
import { confirmUploads } from './core/confirm.js'

export const handler = httpRoute({ body: confirmRequest }, async ({ body, ownerId }) => ({
  body: await confirmUploads(deps(), ownerId, body),
}))
