import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { webhookIdParams } from './core/schemas.js'
import { deleteWebhook } from './core/webhook-endpoints.js'

export const handler = httpRoute({ params: webhookIdParams, status: 204 }, async ({ params, ownerId }) => {
  await deleteWebhook(deps(), ownerId, params.id)
  return { body: undefined }
})
