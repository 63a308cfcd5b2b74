import { deleteFile } from './core/delete-file.js'
import { deps } from './core/deps.js'
import { httpRoute } from './core/middleware/http.js'
import { fileIdParams } from './core/schemas.js'

export const handler = httpRoute({ params: fileIdParams, status: 204 }, async ({ params, ownerId }) => {
  await deleteFile(deps(), ownerId, params.id)
  return { body: undefined }
})
