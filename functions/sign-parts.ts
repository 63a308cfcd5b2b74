import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { signParts } from './core/parts.js'
import { fileIdParams, signPartsRequest } from './core/schemas.js'

export const handler = httpRoute({ body: signPartsRequest, params: fileIdParams }, async ({ body, params, ownerId }) => ({
  body: await signParts(deps(), ownerId, params.id, body),
}))
