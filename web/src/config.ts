/**
 * Where the page finds the API. `/config.json` sits beside the page: the local runtime answers
 * `{"apiBase": ""}` (the API is on the page's own origin); the static-site deployment writes the API Gateway URL.
 */
export interface SiteConfig {
  /** The API's base URL, or "" for the page's own origin. */
  apiBase: string
}

export async function loadSiteConfig(): Promise<SiteConfig> {
  const response = await fetch('config.json', { cache: 'no-store' })
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`)
  const body: unknown = await response.json()
  const apiBase = (body as Partial<SiteConfig> | null)?.apiBase
  if (typeof apiBase !== 'string') throw new Error('config.json: apiBase must be a string ("" for this origin)')
  return { apiBase }
}

/** The base URL the client library needs: `apiBase`, resolved against the page's origin when it is relative or empty. */
export const resolveApiBase = (config: SiteConfig, origin: string): string => new URL(config.apiBase || '/', origin).href.replace(/\/+$/, '')
