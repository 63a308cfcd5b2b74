import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { fileIdParams } from './core/schemas.js'
import { getFile } from './core/get-file.js'

export const handler = httpRoute({ params: fileIdParams }, async ({ params, ownerId }) => {
  const result = await getFile(deps(), ownerId, params.id)
  return { body: result.body, headers: result.cache && { 'X-Cache': result.cache } }
})
