import { readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { routes } from '../../lib/routes.js'
import { pageContentSecurityPolicy } from '../../lib/settings.js'
import { deps } from '../../functions/core/deps.js'
import { openApiDocument } from '../../functions/core/openapi.js'
import { buildSiteSync, SITE_DIR } from '../../web/build.js'
import { splitTarget } from './events.js'

export interface WebOptions {
  /** Repository root: the page is built from `web/` below it into `web/dist`. */
  root: string
  /** Where the page uploads to (the S3 endpoint's origin), allowed by its Content-Security-Policy. */
  storageOrigin: string
  /** Where to build the page (web/build.ts) and serve it from; default `web/dist` below `root`. */
  siteDir?: string
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
}

/** The page on this origin talks to the API on this origin: the static-site deployment writes its own. */
const SITE_CONFIG = JSON.stringify({ apiBase: '' })

/**
 * The runtime's fallback for paths the route table does not know: the upload page at `/` (built from `web/` when
 * this is called), its `/config.json` and the OpenAPI document at `/openapi.json`. Returns false for anything else,
 * so the runtime answers 404.
 */
export function webFallback(options: WebOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const siteDir = options.siteDir ?? join(options.root, SITE_DIR)
  buildSiteSync(siteDir)
  // The files of this build, listed once: nothing outside them can be requested, so no path traversal.
  const pageFiles = new Set(readdirSync(siteDir).filter((name) => !name.endsWith('.tmp')))
  // The deployed site's policy (lib/constructs/site.ts), with the local storage endpoint as the place uploads go.
  const csp = pageContentSecurityPolicy([new URL(options.storageOrigin).origin])
  const headers = (type: string) => ({
    'content-type': type,
    'cache-control': 'no-cache',
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  })

  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    // The router's own reading of the target: `new URL()` would throw (a 500) on `//%zz` or `http://h:99999/`.
    const { pathname } = splitTarget(req.url ?? '/')

    if (pathname === '/openapi.json') {
      const host = req.headers.host
      const { maxFileSize, allowedContentTypes } = deps().config
      const body = JSON.stringify(
        openApiDocument(routes, { ...(host && { serverUrl: `http://${host}` }), limits: { maxFileSize, allowedContentTypes } }),
        null,
        2,
      )
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' })
      res.end(req.method === 'HEAD' ? undefined : body)
      return true
    }

    if (pathname === '/config.json') {
      res.writeHead(200, headers('application/json; charset=utf-8'))
      res.end(req.method === 'HEAD' ? undefined : SITE_CONFIG)
      return true
    }

    const name = pathname === '/' ? 'index.html' : pathname.slice(1)
    if (!pageFiles.has(name)) return false
    const body = await readFile(join(siteDir, name))
    res.writeHead(200, headers(TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream'))
    res.end(req.method === 'HEAD' ? undefined : body)
    return true
  }
}
