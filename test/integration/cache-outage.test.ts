import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../functions/core/config.js'
import { createDeps, deps } from '../../functions/core/deps.js'
import { checkHealth } from '../../functions/core/health.js'
import { getFile } from '../../functions/core/get-file.js'
import { usePipeline } from '../fixtures/pipeline.js'

// Nothing listens on port 1: every Redis command is refused, as in an outage.
const withoutCache = createDeps(loadConfig({ ...process.env, REDIS_URL: 'redis://127.0.0.1:1/0' }))
const pipeline = usePipeline()
const api = pipeline.client('alice')
afterAll(async () => {
  await withoutCache.close()
})

describe('when Redis is unreachable', () => {
  it('GET still answers with the content, from storage', async () => {
    const bytes = Buffer.from('still,here\n')
    const { post } = await api.upload(bytes)
    await api.confirm({ file_id: post.file_id, file_size: bytes.length })
    await api.waitForStatus(post.file_id, ['SYNCED'])

    const result = await getFile(withoutCache, 'alice', post.file_id)
    expect(result.cache).toBe('MISS')
    expect(result.body.content).toBe('still,here\n')
  })

  it('health reports the service degraded, not down', async () => {
    expect(await checkHealth(withoutCache)).toEqual({
      status: 'degraded',
      checks: { database: 'ok', cache: 'unavailable', storage: 'ok', queue: 'ok' },
    })
    expect((await checkHealth(deps())).status).toBe('ok')
  })
})
