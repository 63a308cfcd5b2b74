import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { createWebhookRequest } from './core/schemas.js'
import { createWebhook } from './core/webhook-endpoints.js'

export const handler = httpRoute({ body: createWebhookRequest, status: 201 }, async ({ body, ownerId }) => {
  return { body: await createWebhook(deps(), ownerId, body) }
})
