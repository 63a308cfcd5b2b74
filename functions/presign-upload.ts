import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { presignBody } from './core/schemas.js'
import { presign } from './core/presign.js'

export const handler = httpRoute({ body: presignBody }, async ({ body, ownerId }) => await presign(deps(), ownerId, body))
