import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { webhookIdParams } from './core/schemas.js'
import { enableWebhookEndpoint } from './core/webhook-endpoints.js'

export const handler = httpRoute({ params: webhookIdParams }, async ({ params, ownerId }) => {
  return { body: await enableWebhookEndpoint(deps(), ownerId, params.id) }
})
