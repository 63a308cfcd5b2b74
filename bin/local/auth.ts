import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose'

/** How the local runtime checks bearer tokens, mirroring the HTTP API's JWT authorizer. */
export interface AuthOptions {
  issuer: string
  audience: string
  /** A JWKS URL (a real identity provider); without it tokens are checked with `secret` (HS256). */
  jwksUrl?: string
  secret?: string
}

export function authOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): AuthOptions {
  return {
    issuer: env.JWT_ISSUER || 'upload-pipeline-local',
    audience: env.JWT_AUDIENCE || 'upload-pipeline',
    ...(env.JWT_JWKS_URL ? { jwksUrl: env.JWT_JWKS_URL } : {}),
    // For development only: anyone with this string can mint tokens for any subject.
    secret: env.JWT_SECRET || 'local-development-secret-do-not-use-in-production',
  }
}

export type Verifier = (authorization: string | undefined) => Promise<JWTPayload | undefined>

/** Returns the verified claims of a `Bearer` token, or undefined for any missing or bad token (a `sub` that is not a string included). */
export function createVerifier(options: AuthOptions): Verifier {
  const key: Uint8Array | JWTVerifyGetKey = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl))
    : new TextEncoder().encode(options.secret)
  return async (authorization) => {
    const match = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/i.exec(authorization?.trim() ?? '')
    if (!match) return undefined
    try {
      const { payload } = await jwtVerify(match[1]!, key as Uint8Array, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: options.jwksUrl ? ['RS256', 'ES256'] : ['HS256'],
        requiredClaims: ['sub', 'exp'],
      })
      // jose checks that `sub` is present, not that it is a string; an array or object would otherwise reach the
      // handler as its JSON text and share an owner with the token whose `sub` is that text.
      return typeof payload.sub === 'string' ? payload : undefined
    } catch {
      return undefined
    }
  }
}

/** Mints a development token for `subject` with the local secret. */
export function signDevelopmentToken(options: AuthOptions, subject: string, expiresIn: string | number = '12h'): Promise<string> {
  if (!options.secret) throw new Error('a local signing secret is required to mint tokens')
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(subject)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(options.secret))
}
