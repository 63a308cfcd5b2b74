import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { provision, DEFAULT_CORS_ALLOWED_ORIGINS } from '../../localstack/provision.js'
import { webFallback } from '../../bin/local/web.js'
import type { LocalRuntime } from '../../bin/local/runtime.js'
import { root, startRuntime } from '../fixtures/pipeline.js'

/** Debian's Chromium: `npx playwright install` cannot download browsers here. */
export const CHROMIUM = '/usr/bin/chromium'
export const ARTIFACTS = join(root, 'test-results')

export interface PageRig {
  runtime: LocalRuntime
  context: BrowserContext
  close(): Promise<void>
}

/** Headless Debian Chromium with a fresh profile in `profile` (the browser tests and the folder-drop benchmark). */
export async function launchChromium(profile: string): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: run scripts/install-browser.sh (apt-get install -y chromium)`)
  }
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1100, height: 900 },
  })
}

/**
 * The local runtime serving the upload page, the test bucket's CORS opened to the page's origin
 * (its port is random), and Chromium with a fresh profile.
 */
export async function startPageRig(): Promise<PageRig> {
  const runtime = await startRuntime({ fallback: webFallback({ root, storageOrigin: process.env.AWS_ENDPOINT_URL! }) })
  await provision({ env: process.env, corsAllowedOrigins: [runtime.url, ...DEFAULT_CORS_ALLOWED_ORIGINS] })
  const profile = await mkdtemp(join(tmpdir(), 'upload-pipeline-chromium-'))
  await mkdir(ARTIFACTS, { recursive: true })
  const context = await launchChromium(profile)
  return {
    runtime,
    context,
    async close() {
      await context.close()
      await runtime.close()
      await rm(profile, { recursive: true, force: true })
    },
  }
}
