import { describe, expect, it } from 'vitest'
import { isDatabaseUnavailable, poolConnection } from '../../functions/core/db.js'

describe('database connection settings', () => {
  it('use the URL as it is without IAM auth', () => {
    expect(poolConnection({ databaseUrl: 'postgres://u:p@h:5433/d', databasePoolMax: 1 })).toEqual({
      connectionString: 'postgres://u:p@h:5433/d',
    })
  })

  it('sign a fresh IAM token per connection for RDS Proxy, over verified TLS', async () => {
    process.env.AWS_ACCESS_KEY_ID ??= 'test'
    process.env.AWS_SECRET_ACCESS_KEY ??= 'test'
    const settings = poolConnection({
      databaseUrl: 'postgres://uploads_admin@proxy.example.internal:5432/uploads',
      databasePoolMax: 1,
      databaseIamAuth: true,
      region: 'eu-west-1',
    })
    expect(settings).toMatchObject({
      host: 'proxy.example.internal',
      port: 5432,
      user: 'uploads_admin',
      database: 'uploads',
      ssl: { rejectUnauthorized: true },
    })
    expect(settings).not.toHaveProperty('connectionString')
    const token = await (settings.password as () => Promise<string>)()
    expect(token).toMatch(/^proxy\.example\.internal:5432\/\?Action=connect&DBUser=uploads_admin&.*X-Amz-Signature=/)
    expect(token).toContain('X-Amz-Credential')
  })
})

describe('isDatabaseUnavailable', () => {
  it('recognizes refused connections, admin shutdowns and pool timeouts, not query errors', () => {
    expect(isDatabaseUnavailable(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true)
    expect(isDatabaseUnavailable(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true)
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true)
    expect(isDatabaseUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false)
    expect(isDatabaseUnavailable('not an error')).toBe(false)
  })
})
