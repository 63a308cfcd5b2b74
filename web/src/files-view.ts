/**
 * "My files": the owner's files over `GET /files`, a page at a time (next_cursor), filtered by external id, with
 * statuses refreshing until they are final, download (inline content, or the API's short-lived `download_url`) and
 * delete behind a confirmation dialog.
 */
import type { FileView, UploadClient } from '../../client/src/index.js'
import { describeUploadError, formatBytes } from './messages.js'

const FINAL = new Set(['SYNCED', 'FAILED', 'QUARANTINED', 'EXPIRED', 'DELETED'])
const REFRESH_MS = 1_500

const $ = <T extends Element = HTMLElement>(selector: string, root: ParentNode = document): T => {
  const found = root.querySelector<T>(selector)
  if (!found) throw new Error(`the page lacks ${selector}`)
  return found
}

export interface FilesView {
  /** Shows the first page again (when the token changes). */
  reload(): void
  /** Shows the current page again (after uploads settle), keeping the place. */
  refresh(): void
}

export function startFilesView(client: UploadClient, signedIn: () => boolean): FilesView {
  const form = $<HTMLFormElement>('#files-filter')
  const filter = $<HTMLInputElement>('#filter-external-id')
  const pageSize = $<HTMLSelectElement>('#page-size')
  const body = $<HTMLTableSectionElement>('#files-table tbody')
  const status = $('#files-status')
  const first = $<HTMLButtonElement>('#first-page')
  const previous = $<HTMLButtonElement>('#previous-page')
  const next = $<HTMLButtonElement>('#next-page')
  const dialog = $<HTMLDialogElement>('#confirm-delete')

  // The cursors of the pages before this one: "previous" pops, "next" pushes.
  let cursors: (string | undefined)[] = []
  let cursor: string | undefined
  let nextCursor: string | null = null
  let timer: ReturnType<typeof setTimeout> | undefined
  let generation = 0

  async function show(): Promise<void> {
    clearTimeout(timer)
    const mine = ++generation
    if (!signedIn()) {
      body.replaceChildren()
      status.textContent = 'Paste a token above to see your files.'
      return
    }
    body.closest('table')!.setAttribute('aria-busy', 'true')
    try {
      const externalId = filter.value.trim()
      const page = await client.listFilesPage({
        ...(externalId ? { externalId } : {}),
        limit: Number(pageSize.value),
        ...(cursor ? { cursor } : {}),
      })
      // A slower answer to an earlier request must not overwrite a newer one.
      if (mine !== generation) return
      nextCursor = page.next_cursor
      body.replaceChildren(...page.files.map(renderRow))
      const pageNumber = cursors.length + 1
      status.textContent =
        page.files.length === 0 ? (pageNumber === 1 ? 'No files yet.' : 'No more files.') : `Page ${pageNumber}: ${page.files.length} files.`
      first.disabled = previous.disabled = cursors.length === 0
      next.disabled = nextCursor === null
      if (page.files.some((f) => !FINAL.has(f.status))) timer = setTimeout(() => void show(), REFRESH_MS)
    } catch (error) {
      if (mine === generation) status.textContent = `Could not list the files: ${describeUploadError(error)}`
    } finally {
      if (mine === generation) body.closest('table')!.removeAttribute('aria-busy')
    }
  }

  function renderRow(file: FileView): HTMLTableRowElement {
    const tr = document.createElement('tr')
    tr.dataset.fileId = file.id
    tr.dataset.status = file.status
    const name = document.createElement('th')
    name.scope = 'row'
    name.textContent = file.filename
    tr.append(name)
    for (const text of [file.external_id, formatBytes(file.file_size), file.status, new Date(file.created_at).toLocaleString()]) {
      tr.insertCell().textContent = text
    }
    tr.cells[3]!.className = 'status'
    if (file.error) tr.cells[3]!.title = `${file.error.message} (${file.error.code})`
    const actions = tr.insertCell()
    actions.className = 'actions'
    if (file.status === 'SYNCED') {
      actions.append(button('Download', `Download ${file.filename}`, 'download', () => download(file)))
    }
    actions.append(button('Delete', `Delete ${file.filename}`, 'delete', () => confirmDelete(file)))
    return tr
  }

  async function download(file: FileView): Promise<void> {
    try {
      const { content, content_encoding: encoding, download_url: url } = await client.getFile(file.id)
      if (content !== null) {
        const bytes = encoding === 'base64' ? Uint8Array.from(atob(content), (c) => c.charCodeAt(0)) : content
        const href = URL.createObjectURL(new Blob([bytes], { type: file.content_type }))
        save(href, file.filename)
        setTimeout(() => URL.revokeObjectURL(href), 60_000)
      } else if (url) {
        // Storage answers it as an attachment of a type no browser renders, so this downloads rather than navigates.
        save(url, file.filename)
      } else {
        status.textContent = `${file.filename} has no content to download (${file.status}).`
      }
    } catch (error) {
      status.textContent = `Could not download ${file.filename}: ${describeUploadError(error)}`
    }
  }

  function confirmDelete(file: FileView): void {
    $('#confirm-delete-text').textContent = `Delete ${file.filename} (${formatBytes(file.file_size)})? This cannot be undone.`
    dialog.dataset.fileId = file.id
    dialog.dataset.filename = file.filename
    dialog.showModal()
    // The safe choice has the focus: Enter or Escape right away deletes nothing.
    $<HTMLButtonElement>('#confirm-delete-cancel').focus()
  }

  $('#confirm-delete-cancel').addEventListener('click', () => dialog.close('cancel'))
  $('#confirm-delete-confirm').addEventListener('click', async () => {
    const fileId = dialog.dataset.fileId
    const filename = dialog.dataset.filename
    dialog.close('delete')
    if (!fileId) return
    try {
      await client.deleteFile(fileId)
      status.textContent = `Deleted ${filename}.`
      await show()
      status.textContent = `Deleted ${filename}.`
    } catch (error) {
      status.textContent = `Could not delete ${filename}: ${describeUploadError(error)}`
    }
  })

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    cursors = []
    cursor = undefined
    void show()
  })
  first.addEventListener('click', () => {
    cursors = []
    cursor = undefined
    void show()
  })
  previous.addEventListener('click', () => {
    cursor = cursors.pop()
    void show()
  })
  next.addEventListener('click', () => {
    if (nextCursor === null) return
    cursors.push(cursor)
    cursor = nextCursor
    void show()
  })

  return {
    reload() {
      cursors = []
      cursor = undefined
      void show()
    },
    refresh() {
      void show()
    },
  }
}

function button(text: string, label: string, action: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button')
  b.type = 'button'
  b.textContent = text
  b.dataset.action = action
  b.setAttribute('aria-label', label)
  b.addEventListener('click', onClick)
  return b
}

function save(href: string, filename: string): void {
  const a = document.createElement('a')
  a.href = href
  a.download = filename
  a.rel = 'noopener'
  document.body.append(a)
  a.click()
  a.remove()
}
