import { deps } from './core/deps.js'
import { checkHealth } from './core/health.js'
import { httpRoute } from './core/middleware/http.js'

export const handler = httpRoute({ public: true }, async () => {
  const report = await checkHealth(deps())
  return { status: report.status === 'unavailable' ? 503 : 200, body: report }
})
