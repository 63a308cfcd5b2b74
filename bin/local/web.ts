import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { routes } from '../../lib/routes.js'
import { deps } from '../../functions/core/deps.js'
import { openApiDocument } from '../../functions/core/openapi.js'
import { splitTarget } from './events.js'

export interface WebOptions {
  /** Repository root; the page is served from `web/` below it. */
  root: string
  /** Where the page uploads to (the S3 endpoint's origin), allowed by its Content-Security-Policy. */
  storageOrigin: string
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
}

// A fixed list rather than a directory lookup: nothing outside it can be requested, so no path traversal.
const PAGE_FILES = ['index.html', 'app.js', 'api.js', 'storage.js', 'messages.js', 'csv.js', 'style.css']

/**
 * The runtime's fallback for paths the route table does not know: the upload page at `/` and the
 * OpenAPI document at `/openapi.json`. Returns false for anything else, so the runtime answers 404.
 */
export function webFallback(options: WebOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${new URL(options.storageOrigin).origin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')

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

    const name = pathname === '/' ? 'index.html' : pathname.slice(1)
    if (!PAGE_FILES.includes(name)) return false
    const body = await readFile(join(options.root, 'web', name))
    res.writeHead(200, {
      'content-type': TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    })
    res.end(req.method === 'HEAD' ? undefined : body)
    return true
  }
}
