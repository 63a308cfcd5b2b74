import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { listWebhooks } from './core/webhook-endpoints.js'

export const handler = httpRoute({}, async ({ ownerId }) => ({ body: await listWebhooks(deps(), ownerId) }))
