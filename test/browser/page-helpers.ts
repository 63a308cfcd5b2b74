import type { Page } from 'playwright-core'
import type { PageRig } from './chromium.js'

/** A file's line in the page's pipeline list. */
export const card = (name: string) => `li.upload[data-file="${name}"]`

// Run in the page before its scripts (strings: this project's TypeScript has no DOM types). Records every
// Content-Security-Policy violation, and every status and state each pipeline line shows, in order.
const RECORDERS = `
  window.cspViolations = []
  document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI))
  window.seen = {}
  window.states = {}
  document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver((records) => {
      for (const r of records) {
        const el = r.target
        if (!el.matches || !el.matches('li.upload')) continue
        const name = el.dataset.file
        const key = r.attributeName === 'data-status' ? 'seen' : 'states'
        const value = r.attributeName === 'data-status' ? el.dataset.status : el.dataset.state
        const list = (window[key][name] ??= [])
        if (list.at(-1) !== value) list.push(value)
      }
    }).observe(document.querySelector('#uploads'), { subtree: true, attributes: true, attributeFilter: ['data-status', 'data-state'] })
  })
`

// Golden Retriever would bring back the files an earlier test left behind (the profile is shared): forget them, on a
// page of the same origin that runs no script of ours.
const FORGET = `Promise.all([localStorage.clear(), ...(await indexedDB.databases()).map((d) => new Promise((resolve) => {
  const r = indexedDB.deleteDatabase(d.name); r.onsuccess = r.onerror = r.onblocked = resolve
}))])`

/** Opens the page afresh (no restored files) with `token` and `externalId` filled in, once its script is ready. */
export async function openPage(rig: PageRig, token: string, externalId = 'browser'): Promise<Page> {
  // One page at a time: an earlier test's page would keep uploading, and keep Uppy's IndexedDB open.
  for (const open of rig.context.pages()) await open.close()
  const page = await rig.context.newPage()
  if (process.env.PAGE_DEBUG) page.on('console', (m) => console.log(`page: ${m.text()}`))
  await page.goto(`${rig.runtime.url}/config.json`)
  await page.evaluate(`(async () => { await ${FORGET} })()`)
  await page.addInitScript(RECORDERS)
  await page.goto(`${rig.runtime.url}/`)
  await page.waitForSelector('body[data-ready="true"]')
  await page.fill('#token', token)
  await page.fill('#external-id', externalId)
  return page
}

/** Chooses files (or a folder) through the Dashboard's own inputs, as its "browse" links do. */
export async function chooseFiles(page: Page, paths: string[]): Promise<void> {
  await page.setInputFiles('.uppy-Dashboard-input:not([webkitdirectory])', paths)
}
export async function chooseFolder(page: Page, dir: string): Promise<void> {
  await page.setInputFiles('.uppy-Dashboard-input[webkitdirectory]', dir)
}

export const cspViolations = (page: Page): Promise<string[]> => page.evaluate<string[]>('window.cspViolations')
/** Every state each line went through ("uploading", "refused", "synced", …). */
export const statesSeen = (page: Page): Promise<Record<string, string[]>> => page.evaluate<Record<string, string[]>>('window.states')
export const statusesSeen = (page: Page): Promise<Record<string, string[]>> => page.evaluate<Record<string, string[]>>('window.seen')
