import { createApi } from './api.js'
import { parseCsvPreview } from './csv.js'
import { describeFailure, formatBytes } from './messages.js'
import { uploadToStorage } from './storage.js'

const TOKEN_KEY = 'upload-pipeline.token'
const EXTERNAL_ID_KEY = 'upload-pipeline.external-id'
const STEPS = ['UPLOADING', 'PENDING', 'UPLOADED', 'SYNCING', 'SYNCED']
const FINAL = new Set(['SYNCED', 'FAILED', 'EXPIRED'])
const PARALLEL_UPLOADS = 3
const POLL_MS = 400
const POLL_GIVE_UP_MS = 10 * 60_000
const PREVIEW_ROWS = 10

const $ = (selector, root = document) => root.querySelector(selector)
const tokenInput = $('#token')
const externalIdInput = $('#external-id')
const api = createApi(() => tokenInput.value.trim())

tokenInput.value = localStorage.getItem(TOKEN_KEY) ?? ''
externalIdInput.value = localStorage.getItem(EXTERNAL_ID_KEY) ?? externalIdInput.value
tokenInput.addEventListener('input', () => {
  localStorage.setItem(TOKEN_KEY, tokenInput.value.trim())
  showWhoAmI()
})
externalIdInput.addEventListener('input', () => localStorage.setItem(EXTERNAL_ID_KEY, externalIdInput.value))
showWhoAmI()

/** Reads (does not verify) the token's subject and expiry, so a stale token is spotted before uploading. */
function showWhoAmI() {
  const whoami = $('#whoami')
  const token = tokenInput.value.trim()
  if (!token) {
    whoami.textContent = 'Get a development token with: npm run -s token -- alice'
    return
  }
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')))
    const expires = new Date(payload.exp * 1000)
    whoami.textContent =
      expires < new Date() ? `This token for ${payload.sub} has expired: get a new one.` : `Uploading as ${payload.sub} until ${expires.toLocaleString()}.`
  } catch {
    whoami.textContent = 'This does not look like a token.'
  }
}

const input = $('#files')
input.addEventListener('change', () => {
  enqueue([...input.files])
  input.value = ''
})
const drop = $('#drop')
drop.addEventListener('dragover', (event) => {
  event.preventDefault()
  drop.classList.add('over')
})
drop.addEventListener('dragleave', () => drop.classList.remove('over'))
drop.addEventListener('drop', (event) => {
  event.preventDefault()
  drop.classList.remove('over')
  enqueue([...(event.dataTransfer?.files ?? [])])
})

const queue = []
let running = 0

function enqueue(files) {
  for (const file of files) queue.push({ file, view: render(file) })
  pump()
}

function pump() {
  while (running < PARALLEL_UPLOADS && queue.length > 0) {
    const job = queue.shift()
    running += 1
    uploadOne(job).finally(() => {
      running -= 1
      pump()
    })
  }
}

function render(file) {
  const item = $('#upload-item').content.firstElementChild.cloneNode(true)
  item.dataset.file = file.name
  $('.name', item).textContent = file.name
  $('.size', item).textContent = formatBytes(file.size)
  $('#uploads').append(item)
  const view = {
    item,
    state(state, text) {
      item.dataset.state = state
      $('.status', item).textContent = text
    },
    step(step) {
      const at = STEPS.indexOf(step)
      item.dataset.status = step
      for (const li of item.querySelectorAll('.steps li')) {
        const i = STEPS.indexOf(li.dataset.step)
        li.classList.toggle('done', i < at || step === 'SYNCED')
        li.classList.toggle('current', i === at && step !== 'SYNCED')
      }
    },
    progress(fraction) {
      $('.progress', item).value = fraction
    },
    refuse(message, state = 'refused') {
      item.dataset.state = state
      $('.message', item).textContent = message
      $('.progress', item).hidden = true
    },
  }
  view.state('queued', 'Waiting…')
  return view
}

async function uploadOne({ file, view }) {
  try {
    view.step('UPLOADING')
    view.state('presigning', 'Requesting an upload link…')
    const post = await api.presign({
      filename: file.name,
      external_id: externalIdInput.value.trim() || 'web',
      file_size: file.size,
      ...(file.type ? { content_type: file.type } : {}),
    })
    view.item.dataset.fileId = post.file_id
    view.state('uploading', 'Uploading to storage…')
    const stored = await uploadToStorage(post, file, (fraction) => view.progress(fraction))
    if (stored.etag) view.item.dataset.etag = stored.etag

    view.step('PENDING')
    view.state('confirming', 'Confirming…')
    const confirmed = await api.confirm(post.file_id, file.size)
    view.step(confirmed.files[0]?.status ?? 'UPLOADED')
    await follow(post.file_id, view)
  } catch (error) {
    view.refuse(error instanceof Error ? error.message : String(error))
    view.state('refused', 'Not uploaded.')
  }
}

/** Polls the file until it settles, showing each state it passes through. */
async function follow(fileId, view) {
  const deadline = Date.now() + POLL_GIVE_UP_MS
  for (;;) {
    const { file, content, content_encoding: encoding } = await api.getFile(fileId)
    view.step(FINAL.has(file.status) && file.status !== 'SYNCED' ? 'SYNCING' : file.status)
    view.state(file.status.toLowerCase(), `Status: ${file.status}`)
    if (file.status === 'SYNCED') {
      $('.sha256', view.item).textContent = file.sha256
      $('.digest', view.item).hidden = false
      if (file.content_type === 'text/csv' && encoding === 'utf-8' && content !== null) showPreview(view.item, content)
      return
    }
    if (FINAL.has(file.status)) {
      view.refuse(describeFailure(file), 'failed')
      return
    }
    if (Date.now() > deadline) {
      view.refuse('Still processing after 10 minutes; reload later to see the result.', 'failed')
      return
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

function showPreview(item, text) {
  const rows = parseCsvPreview(text, PREVIEW_ROWS + 1)
  if (rows.length === 0) return
  const table = document.createElement('table')
  const [head, ...body] = rows
  const tr = table.createTHead().insertRow()
  for (const cell of head) {
    const th = document.createElement('th')
    th.textContent = cell
    tr.append(th)
  }
  const tbody = table.createTBody()
  for (const row of body) {
    const r = tbody.insertRow()
    for (const cell of row) r.insertCell().textContent = cell
  }
  const preview = $('.preview', item)
  preview.replaceChildren(table)
  preview.hidden = false
}
