/**
 * The upload half of the page: Uppy's Dashboard (drag and drop, folders, per-file and total progress, pause, resume,
 * retry, Golden Retriever's resume after a reload) sending the bytes straight to storage through our routes, then the
 * pipeline's own steps per file (confirmed → checked → SYNCED / FAILED / QUARANTINED), SHA-256, a CSV preview and a
 * summary line for the batch.
 *
 * Our routes, as Uppy's S3 plugin (v5) calls them:
 * - a preprocessor presigns the batch's files 100 at a time (`presignBatch`), so a folder costs a few requests;
 * - small files: the presigned POST (`getUploadParameters`), confirmed in batches as they arrive;
 * - large files: the server has already created the multipart upload, so `createMultipartUpload` hands Uppy the file
 *   id; `signPart` is `POST /files/{id}/parts`, `listParts` is `GET /files/{id}/parts` (resume), and
 *   `completeMultipartUpload` is confirm (the server assembles the upload from the parts storage holds).
 */
import AwsS3, { type AwsBody } from '@uppy/aws-s3'
import Uppy, { type Meta, type UppyFile } from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import GoldenRetriever from '@uppy/golden-retriever'
import type { ConfirmResult, FileView, PresignItem, Upload, UploadClient } from '../../client/src/index.js'
import { parseCsvPreview } from './csv.js'
import { describeApiError, describeFailure, describeUploadError, formatBytes, summarize, type BatchCounts } from './messages.js'

const MiB = 1024 * 1024
// Uppy resumes only multipart uploads after a reload (a POST starts over), so anything more than a few parts goes in
// parts; below this a single POST is one request instead of several.
const MULTIPART_FROM_BYTES = 16 * MiB
// The API's limit per batch (MAX_PRESIGN_BATCH / MAX_CONFIRM_BATCH in functions/core/schemas.ts, server code the
// page must not bundle); the API refuses a larger batch, so a drift shows at once.
const BATCH_LIMIT = 100
// Confirms that arrive within this window go in one request: a folder's files finish a few at a time, and a
// confirm costs the server a round trip to storage and a transaction whatever the batch size (bench/folder-drop.ts).
const CONFIRM_BATCH_WINDOW_MS = 250
// Files followed to a final state at once: each polls `GET /files/{id}` with backoff, and a folder has hundreds.
const SETTLE_CONCURRENCY = 48
const SETTLE_TIMEOUT_MS = 30 * 60_000
const PREVIEW_ROWS = 10
const STEPS = ['UPLOADING', 'PENDING', 'UPLOADED', 'SYNCING', 'SYNCED'] as const
const FINAL = new Set(['SYNCED', 'FAILED', 'QUARANTINED', 'EXPIRED', 'DELETED'])

/** What the page keeps in each Uppy file's meta: Golden Retriever persists it, so a reload still knows the plan. */
interface PipelineMeta extends Meta {
  pipelineFileId?: string
  pipelineUploadType?: 'post' | 'multipart'
  pipelinePartSize?: number
}
type PipelineFile = UppyFile<PipelineMeta, AwsBody>
type MultipartState = { s3Multipart?: { uploadId?: string; key?: string } }

/** A presigned POST is not persisted: it expires within minutes, and a POST is not resumable anyway. */
interface PostForm {
  url: string
  fields: Record<string, string>
  expiresAt: number
  /** Presigned again when less than this is left: a minute, or half its life when it lives shorter. */
  marginMs: number
}

export interface UploaderOptions {
  client: UploadClient
  externalId: () => string
  /** Called when a file reaches a final state, e.g. to refresh "My files". */
  onSettled?: () => void
}

const $ = <T extends Element = HTMLElement>(selector: string, root: ParentNode = document): T => {
  const found = root.querySelector<T>(selector)
  if (!found) throw new Error(`the page lacks ${selector}`)
  return found
}

class Refusal extends Error {
  override readonly name = 'Refusal'
}

export function startUploader(options: UploaderOptions): Uppy<PipelineMeta, AwsBody> {
  const { client } = options
  const forms = new Map<string, PostForm>()
  const refusals = new Map<string, string>()
  const rows = new Map<string, Row>()
  const pipelines = new Map<string, Promise<void>>()
  // Files the user removed or cancelled (as opposed to uploads that failed).
  const removed = new Set<string>()

  const uppy = new Uppy<PipelineMeta, AwsBody>({ id: 'upload-pipeline', autoProceed: true })

  const rowFor = (file: PipelineFile): Row => {
    let row = rows.get(file.id)
    if (!row) {
      row = new Row(file, updateSummary)
      rows.set(file.id, row)
    }
    return row
  }

  function updateSummary(): void {
    const counts: BatchCounts = { synced: 0, failed: 0, quarantined: 0, inProgress: 0 }
    for (const row of rows.values()) {
      const outcome = row.outcome()
      if (outcome === 'synced') counts.synced += 1
      else if (outcome === 'quarantined') counts.quarantined += 1
      else if (outcome === 'failed') counts.failed += 1
      else counts.inProgress += 1
    }
    const summary = $('#summary')
    summary.textContent = rows.size === 0 ? '' : summarize(counts)
    summary.dataset.done = String(rows.size > 0 && counts.inProgress === 0)
  }

  const presignItem = (file: PipelineFile): PresignItem => ({
    filename: file.name ?? 'file',
    external_id: options.externalId(),
    file_size: file.size ?? 0,
    ...(file.type ? { content_type: file.type } : {}),
    ...((file.size ?? 0) > MULTIPART_FROM_BYTES ? { multipart: true } : {}),
  })

  const remember = (file: PipelineFile, upload: Upload): void => {
    uppy.setFileMeta(file.id, {
      pipelineFileId: upload.file_id,
      pipelineUploadType: upload.upload_type,
      ...(upload.upload_type === 'multipart' ? { pipelinePartSize: upload.part_size } : {}),
    })
    if (upload.upload_type === 'post') {
      const expiresAt = Date.parse(upload.expires_at)
      forms.set(file.id, { url: upload.upload_url, fields: upload.form_fields, expiresAt, marginMs: Math.min(60_000, (expiresAt - Date.now()) / 2) })
    }
    refusals.delete(file.id)
    const row = rowFor(file)
    row.planned(upload.file_id)
    row.state('queued', 'Waiting for its turn to upload…')
  }

  const current = (file: PipelineFile): PipelineFile => uppy.getFile(file.id) ?? file
  const needsPresign = (file: PipelineFile): boolean => {
    if ((file as MultipartState).s3Multipart?.uploadId) return false
    if (file.meta.pipelineUploadType === 'multipart' && !refusals.has(file.id)) return false
    const form = forms.get(file.id)
    return !form || form.expiresAt - Date.now() < form.marginMs
  }

  /** One file presigned on its own: a file Uppy restarts without preprocessing (after a reload) or whose POST expired. */
  async function presignOne(file: PipelineFile): Promise<void> {
    rowFor(file).state('presigning', 'Requesting an upload link…')
    remember(file, await client.presign(presignItem(file)))
  }

  uppy.addPreProcessor(async (ids) => {
    const files = uppy.getFilesByIds(ids).filter(needsPresign)
    for (let i = 0; i < files.length; i += BATCH_LIMIT) {
      const chunk = files.slice(i, i + BATCH_LIMIT)
      for (const file of chunk) {
        uppy.emit('preprocess-progress', file, { mode: 'indeterminate', message: 'Requesting an upload link…', value: 0 })
        rowFor(file).state('presigning', 'Requesting an upload link…')
      }
      try {
        const result = await client.presignBatch(chunk.map(presignItem))
        const failed = new Map(result.failed.map((f) => [f.index, f.error]))
        let next = 0
        chunk.forEach((file, index) => {
          const error = failed.get(index)
          if (error) refusals.set(file.id, describeApiError(error))
          else remember(current(file), result.files[next++]!)
        })
      } catch (error) {
        // Transient conditions were already waited out by the client library: this one is for good.
        for (const file of chunk) refusals.set(file.id, describeUploadError(error))
      }
      for (const file of chunk) uppy.emit('preprocess-complete', file)
    }
  })

  async function planFor(file: PipelineFile): Promise<PipelineFile> {
    const refusal = refusals.get(file.id)
    if (refusal) throw new Refusal(refusal)
    if (needsPresign(file)) await presignOne(file)
    return current(file)
  }

  uppy.use(AwsS3<PipelineMeta, AwsBody>, {
    limit: 6,
    shouldUseMultipart: (file) => current(file).meta.pipelineUploadType === 'multipart',
    // Parts must follow the server's plan (it checks each part's size at confirm); Uppy hands over the Blob only.
    getChunkSize: (data) => {
      const file = uppy.getFiles().find((f) => f.data === data)
      const partSize = file?.meta.pipelinePartSize
      if (!partSize) throw new Error('no part plan for this file')
      return partSize
    },
    async getUploadParameters(file) {
      await planFor(file)
      const form = forms.get(file.id)
      if (!form) throw new Error('no presigned POST for this file')
      rowFor(file).state('uploading', 'Uploading to storage…')
      return { method: 'POST' as const, url: form.url, fields: form.fields }
    },
    async createMultipartUpload(file) {
      const planned = await planFor(file)
      const fileId = planned.meta.pipelineFileId
      if (!fileId || planned.meta.pipelineUploadType !== 'multipart') throw new Error('no multipart plan for this file')
      rowFor(file).state('uploading', 'Uploading to storage in parts…')
      // The file id is all the parts routes need; Uppy keeps it as the upload id, and Golden Retriever persists it.
      return { uploadId: fileId, key: fileId }
    },
    async signPart(_file, { uploadId, partNumber }) {
      if (!uploadId) throw new Error('no file id to sign a part for')
      const [part] = await client.signParts(uploadId, [partNumber])
      if (!part) throw new Error(`the API signed no URL for part ${partNumber}`)
      return { method: 'PUT' as const, url: part.url, headers: part.headers }
    },
    async listParts(file, { uploadId }) {
      if (!uploadId) throw new Error('no file id to list the parts of')
      rowFor(file).state('uploading', 'Resuming: asking storage which parts it holds…')
      const listing = await client.listParts(uploadId)
      return listing.parts.map((p) => ({ PartNumber: p.part_number, Size: p.size, ETag: p.etag }))
    },
    async completeMultipartUpload(file, { uploadId }) {
      if (!uploadId) throw new Error('no file id to confirm')
      // The server completes the upload from the parts storage reports; the ETags Uppy collected are not needed.
      rowFor(file).confirming()
      const result = await client.confirm(uploadId, current(file).size ?? 0)
      rowFor(file).confirmed(statusOf(result, uploadId))
      return {}
    },
    async abortMultipartUpload(file, { uploadId }) {
      // Uppy aborts both when the user removes the file and when a part failed for good. Only the first deletes (which
      // aborts the storage upload and frees the name); after a failure the stored parts stay for the retry, which
      // goes on with the same file id. An upload nobody comes back to is expired by the sweeper.
      if (!uploadId || !removed.has(file.id)) return
      await client.deleteFile(uploadId).catch((error: unknown) => console.warn('could not delete the abandoned upload', error))
    },
  })

  const confirms = batcher<{ file_id: string; file_size: number }, FileStatus>(
    CONFIRM_BATCH_WINDOW_MS,
    BATCH_LIMIT,
    async (items) => {
      const result = await client.confirmBatch(items)
      return items.map((item) => {
        const failure = result.failed.find((f) => f.file_id === item.file_id)
        return failure ? { error: new Refusal(describeApiError(failure.error)) } : { value: statusOf(result, item.file_id) }
      })
    },
  )
  const settling = semaphore(SETTLE_CONCURRENCY)

  async function followToTheEnd(file: PipelineFile): Promise<void> {
    const row = rowFor(file)
    const fileId = file.meta.pipelineFileId
    if (!fileId) return row.refuse('Uploaded, but the page lost track of the file id.')
    try {
      if (file.meta.pipelineUploadType !== 'multipart') {
        row.confirming()
        row.confirmed(await confirms(({ file_id: fileId, file_size: file.size ?? 0 })))
      }
      const settled = await settling(() =>
        client.waitUntilSettled(fileId, { timeoutMs: SETTLE_TIMEOUT_MS, onUpdate: (view) => row.status(view) }),
      )
      row.status(settled)
      if (settled.status === 'SYNCED' && settled.content_type === 'text/csv') {
        const { content, content_encoding: encoding } = await client.getFile(fileId)
        if (encoding === 'utf-8' && content !== null) row.preview(content)
      }
    } catch (error) {
      row.refuse(describeUploadError(error))
    }
    options.onSettled?.()
  }

  uppy.on('file-added', (file) => rowFor(file))
  uppy.on('cancel-all', () => {
    for (const file of uppy.getFiles()) removed.add(file.id)
  })
  uppy.on('file-removed', (file) => {
    removed.add(file.id)
    const row = rows.get(file.id)
    // A file that reached storage stays in the list: the pipeline goes on with it.
    if (row && !row.reachedStorage()) {
      row.remove()
      rows.delete(file.id)
      updateSummary()
    }
    forms.delete(file.id)
    refusals.delete(file.id)
  })
  uppy.on('restored', () => {
    for (const file of uppy.getFiles()) rowFor(file)
  })
  uppy.on('upload-progress', (file, progress) => {
    if (file && progress.bytesTotal) rowFor(file).progress(Number(progress.bytesUploaded) / Number(progress.bytesTotal))
  })
  uppy.on('upload-error', (file, error) => {
    if (!file) return
    const message = describeUploadError(error)
    rowFor(file).refuse(message)
    // The Dashboard shows the file's error: ours says what to do, Uppy's says "Non 2xx".
    uppy.setFileState(file.id, { error: message })
  })
  uppy.on('upload-success', (file) => {
    if (!file) return
    const pipeline = followToTheEnd(current(file))
    pipelines.set(file.id, pipeline)
  })
  // The Dashboard shows "processing" until every uploaded file of the batch has reached a final state.
  uppy.addPostProcessor(async (ids) => {
    await Promise.all(
      ids.map(async (id) => {
        const pipeline = pipelines.get(id)
        const file = uppy.getFile(id)
        if (!pipeline || !file) return
        uppy.emit('postprocess-progress', file, { mode: 'indeterminate', message: 'Checking and hashing…', value: 0 })
        await pipeline
        uppy.emit('postprocess-complete', file)
      }),
    )
  })

  uppy.use(Dashboard, {
    inline: true,
    target: '#uppy',
    width: '100%',
    height: 420,
    fileManagerSelectionType: 'both',
    hideProgressDetails: false,
    proudlyDisplayPoweredByUppy: false,
    note: 'Files and folders go straight to storage, then are checked and hashed (SHA-256).',
  })
  uppy.use(GoldenRetriever, {
    serviceWorker: false,
    // Files up to this size are kept in IndexedDB for a reload; a larger one is asked for again (by name) and its
    // upload resumes from the parts storage holds.
    indexedDB: { maxFileSize: 256 * MiB, maxTotalSize: 1024 * MiB } as never,
  })
  return uppy
}

type FileStatus = ConfirmResult['files'][number]['status']

function statusOf(result: ConfirmResult, fileId: string): FileStatus {
  const failure = result.failed.find((f) => f.file_id === fileId)
  if (failure) throw new Refusal(describeApiError(failure.error))
  return result.files.find((f) => f.file_id === fileId)?.status ?? 'UPLOADED'
}

/** A per-file line of the pipeline list: the steps it passed, its SHA-256, a CSV preview or why it stopped. */
class Row {
  private readonly item: HTMLLIElement
  private readonly bar: HTMLProgressElement

  constructor(
    file: UppyFile<PipelineMeta, AwsBody>,
    private readonly changed: () => void,
  ) {
    const template = $<HTMLTemplateElement>('#upload-item')
    this.item = template.content.firstElementChild!.cloneNode(true) as HTMLLIElement
    this.item.dataset.file = file.name ?? ''
    const path = (file.meta as { relativePath?: string | null }).relativePath
    if (path) this.item.dataset.path = path
    $('.name', this.item).textContent = path ?? file.name ?? ''
    $('.size', this.item).textContent = formatBytes(file.size)
    this.bar = $<HTMLProgressElement>('.progress', this.item)
    this.bar.setAttribute('aria-label', `Upload of ${file.name}`)
    $('#uploads').append(this.item)
    this.state('queued', 'Waiting…')
    this.step('UPLOADING')
  }

  state(state: string, text: string): void {
    this.item.dataset.state = state
    $('.status', this.item).textContent = text
    this.changed()
  }

  step(step: string): void {
    const at = STEPS.indexOf(step as (typeof STEPS)[number])
    // Never backwards: a late poll answer cannot undo a later state.
    if (at < STEPS.indexOf((this.item.dataset.status ?? 'UPLOADING') as (typeof STEPS)[number])) return
    this.item.dataset.status = step
    for (const li of this.item.querySelectorAll<HTMLElement>('.steps li')) {
      const i = STEPS.indexOf(li.dataset.step as (typeof STEPS)[number])
      li.classList.toggle('done', i < at || step === 'SYNCED')
      li.classList.toggle('current', i === at && step !== 'SYNCED')
    }
  }

  planned(fileId: string): void {
    this.item.dataset.fileId = fileId
  }

  progress(fraction: number): void {
    this.bar.value = fraction
  }

  confirming(): void {
    this.progress(1)
    this.step('PENDING')
    this.state('confirming', 'Confirming…')
  }

  confirmed(status: string): void {
    this.step(status === 'PENDING' ? 'UPLOADED' : status)
    this.state('uploaded', 'Uploaded: checking and hashing…')
  }

  status(file: FileView): void {
    if (FINAL.has(file.status) && file.status !== 'SYNCED') {
      this.step('SYNCING')
      this.refuse(describeFailure(file), file.status === 'QUARANTINED' ? 'quarantined' : 'failed')
      return
    }
    this.step(file.status)
    if (file.status === 'SYNCED') {
      $('.sha256', this.item).textContent = file.sha256 ?? ''
      $('.digest', this.item).hidden = false
      this.state('synced', 'Synced.')
    } else if (file.status === 'SYNCING') {
      const hashed = file.hashed_bytes
      this.state('syncing', hashed && file.file_size ? `Hashing: ${Math.floor((100 * hashed) / file.file_size)} %` : 'Hashing…')
    }
  }

  preview(text: string): void {
    const rows = parseCsvPreview(text, PREVIEW_ROWS + 1)
    const [head, ...body] = rows
    if (!head) return
    const table = document.createElement('table')
    const caption = table.createCaption()
    caption.textContent = `First rows of ${this.item.dataset.file}`
    const tr = table.createTHead().insertRow()
    for (const cell of head) {
      const th = document.createElement('th')
      th.scope = 'col'
      th.textContent = cell
      tr.append(th)
    }
    const tbody = table.createTBody()
    for (const row of body) {
      const r = tbody.insertRow()
      for (const cell of row) r.insertCell().textContent = cell
    }
    const preview = $('.preview', this.item)
    preview.replaceChildren(table)
    preview.hidden = false
  }

  refuse(message: string, state = 'refused'): void {
    $('.message', this.item).textContent = message
    this.bar.hidden = true
    this.state(state, state === 'refused' ? 'Not uploaded.' : 'Stopped.')
  }

  reachedStorage(): boolean {
    return STEPS.indexOf((this.item.dataset.status ?? 'UPLOADING') as (typeof STEPS)[number]) > 0
  }

  outcome(): 'synced' | 'failed' | 'quarantined' | 'pending' {
    const state = this.item.dataset.state
    if (state === 'synced') return 'synced'
    if (state === 'quarantined') return 'quarantined'
    if (state === 'failed' || state === 'refused') return 'failed'
    return 'pending'
  }

  remove(): void {
    this.item.remove()
  }
}

type Outcome<R> = { value: R } | { error: unknown }

/** Collects calls made within `windowMs` (at most `max`) into one call of `run`, which answers per item. */
function batcher<T, R>(windowMs: number, max: number, run: (items: T[]) => Promise<Outcome<R>[]>): (item: T) => Promise<R> {
  let pending: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  const flush = () => {
    clearTimeout(timer)
    timer = undefined
    const batch = pending
    pending = []
    run(batch.map((p) => p.item)).then(
      (outcomes) =>
        batch.forEach((p, i) => {
          const outcome = outcomes[i]!
          if ('value' in outcome) p.resolve(outcome.value)
          else p.reject(outcome.error)
        }),
      (error: unknown) => batch.forEach((p) => p.reject(error)),
    )
  }
  return (item) =>
    new Promise<R>((resolve, reject) => {
      pending.push({ item, resolve, reject })
      if (pending.length >= max) flush()
      else timer ??= setTimeout(flush, windowMs)
    })
}

/** Runs at most `limit` of the functions given to it at once. */
function semaphore(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0
  const waiting: (() => void)[] = []
  return async (fn) => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve))
    active += 1
    try {
      return await fn()
    } finally {
      active -= 1
      waiting.shift()?.()
    }
  }
}
