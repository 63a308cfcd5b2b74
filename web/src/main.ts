/**
 * The upload page: the token and external id, the uploader (uploader.ts) and "My files" (files-view.ts), all over
 * the one client library, which retries 429 and 503 after Retry-After and network errors with backoff: while it
 * waits, the page says so instead of showing a refusal.
 */
import '../style.css'
import { UploadClient, type RetryReason } from '../../client/src/index.js'
import { loadSiteConfig, resolveApiBase } from './config.js'
import { startFilesView } from './files-view.js'
import { describeWait } from './messages.js'
import { startUploader } from './uploader.js'

const TOKEN_KEY = 'upload-pipeline.token'
const EXTERNAL_ID_KEY = 'upload-pipeline.external-id'

const $ = <T extends HTMLElement = HTMLElement>(selector: string): T => {
  const found = document.querySelector<T>(selector)
  if (!found) throw new Error(`the page lacks ${selector}`)
  return found
}

const tokenInput = $<HTMLInputElement>('#token')
const externalIdInput = $<HTMLInputElement>('#external-id')
const waiting = $('#waiting')

tokenInput.value = localStorage.getItem(TOKEN_KEY) ?? ''
externalIdInput.value = localStorage.getItem(EXTERNAL_ID_KEY) ?? externalIdInput.value
externalIdInput.addEventListener('input', () => localStorage.setItem(EXTERNAL_ID_KEY, externalIdInput.value))
showWhoAmI()

/** Reads (does not verify) the token's subject and expiry, so a stale token is spotted before uploading. */
function showWhoAmI(): void {
  const whoami = $('#whoami')
  const token = tokenInput.value.trim()
  if (!token) {
    whoami.textContent = 'Get a development token with: npm run -s token -- alice'
    return
  }
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { sub: string; exp: number }
    const expires = new Date(payload.exp * 1000)
    whoami.textContent =
      expires < new Date() ? `This token for ${payload.sub} has expired: get a new one.` : `Uploading as ${payload.sub} until ${expires.toLocaleString()}.`
  } catch {
    whoami.textContent = 'This does not look like a token.'
  }
}

let waitingUntil = 0
let waitingTimer: ReturnType<typeof setTimeout> | undefined
/** Shows the longest wait in progress; hides once it is over (a request that then succeeds needs no message). */
function showWaiting(delayMs: number, reason: RetryReason): void {
  const until = Date.now() + delayMs
  if (until < waitingUntil) return
  waitingUntil = until
  waiting.textContent = describeWait(delayMs, reason)
  waiting.hidden = false
  document.body.dataset.waited = 'true'
  clearTimeout(waitingTimer)
  waitingTimer = setTimeout(() => {
    waiting.hidden = true
  }, delayMs + 500)
}

try {
  const config = await loadSiteConfig()
  const client = new UploadClient({
    baseUrl: resolveApiBase(config, location.origin),
    token: () => tokenInput.value.trim(),
    onRetry: (info) => showWaiting(info.delayMs, info.reason),
  })
  const files = startFilesView(client, () => tokenInput.value.trim() !== '')
  startUploader({ client, externalId: () => externalIdInput.value.trim() || 'web', onSettled: debounce(() => files.refresh(), 1_000) })
  files.reload()
  tokenInput.addEventListener('input', () => {
    localStorage.setItem(TOKEN_KEY, tokenInput.value.trim())
    showWhoAmI()
    files.reload()
  })
  document.body.dataset.ready = 'true'
} catch (error) {
  $('#fatal').textContent = `The page could not start: ${error instanceof Error ? error.message : String(error)}`
  throw error
}

function debounce(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined
  return () => {
    clearTimeout(timer)
    timer = setTimeout(fn, ms)
  }
}
