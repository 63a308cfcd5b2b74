import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { authOptionsFromEnv, createVerifier } from '../../../bin/local/auth.js'
import { root } from '../../fixtures/pipeline.js'

const run = promisify(execFile)

describe('npm run -s token -- <subject>', () => {
  it('prints, on its last line, only a token the local runtime accepts for that subject', async () => {
    const { JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE, JWT_JWKS_URL, ...env } = process.env
    const { stdout } = await run('npm', ['run', '-s', 'token', '--', 'ålice|42'], { cwd: root, env })
    const last = stdout.trimEnd().split('\n').at(-1)!
    expect(last).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    const claims = await createVerifier(authOptionsFromEnv({}))(`Bearer ${last}`)
    expect(claims).toMatchObject({ sub: 'ålice|42', iss: 'upload-pipeline-local', aud: 'upload-pipeline' })
    expect(claims!.exp! - claims!.iat!).toBe(12 * 3600)
  }, 60_000)

  it('refuses to mint a token without a subject', async () => {
    await expect(run('npm', ['run', '-s', 'token'], { cwd: root })).rejects.toMatchObject({ code: 2 })
  }, 60_000)
})
