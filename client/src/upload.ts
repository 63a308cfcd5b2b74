import type { UploadClient } from './client.js'
import { StorageError } from './errors.js'
import { isNetworkError, isRetryableStatus, retry } from './retry.js'
import { blobSource, uploadParts, type PartSource, type UploadPartsResult } from './multipart.js'
import type { FileView, PostUpload, Upload } from './types.js'

export interface UploadOptions {
  filename: string
  externalId: string
  contentType?: string
  /** Hex SHA-256 of the whole file: bound into a form POST's policy, so storage refuses any other bytes. */
  sha256?: string
  /** true: in parts whatever the size. Unset: the server's threshold decides. */
  multipart?: boolean
  /** Resume the upload created earlier under this id (see `onUploadCreated`): only what storage lacks is sent. */
  fileId?: string
  /** Parts in flight at once (default 4). */
  partConcurrency?: number
  /** Sign each part's SHA-256 into its URL, so storage refuses a corrupted part (default false). */
  partChecksums?: boolean
  /** Told the new upload before any byte is sent: persist `file_id` here to resume after a crash or reload. */
  onUploadCreated?: (upload: Upload) => unknown
  onProgress?: (progress: { uploadedBytes: number; totalBytes: number }) => void
  /** Told how a multipart upload went: how many parts storage already held and how many were sent. */
  onPartsDone?: (result: UploadPartsResult) => void
  /**
   * Sends the form POST of a small file (default: `fetch` with FormData, which reports progress only at the end).
   * The CLI passes one that streams from disk and reports every chunk.
   */
  postToStorage?: (upload: PostUpload, source: Blob | PartSource, onSent: (bytes: number) => void, signal?: AbortSignal) => Promise<{ status: number; body: string }>
  signal?: AbortSignal
}

/** The browser's form POST: every policy field, then the file part last (storage ignores fields after it). */
export async function postForm(
  upload: PostUpload,
  source: Blob | PartSource,
  options: { filename?: string; fetch?: typeof fetch; signal?: AbortSignal } = {},
): Promise<{ status: number; body: string }> {
  const form = new FormData()
  for (const [key, value] of Object.entries(upload.form_fields)) form.append(key, value)
  const bytes = source instanceof Blob ? source : await source.read(0, source.size)
  const blob = bytes instanceof Blob ? bytes : new Blob([bytes as Uint8Array<ArrayBuffer>])
  form.append('file', new Blob([blob], { type: upload.form_fields['Content-Type'] ?? 'application/octet-stream' }), options.filename ?? 'upload')
  const fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const response = await fetchFn(upload.upload_url, { method: 'POST', body: form, ...(options.signal ? { signal: options.signal } : {}) })
  return { status: response.status, body: await response.text() }
}

/** `UploadClient.upload`: see there. */
export async function uploadFile(client: UploadClient, body: Blob | PartSource, options: UploadOptions): Promise<FileView> {
  const source: PartSource = body instanceof Blob ? blobSource(body) : body
  const totalBytes = source.size
  const signal = options.signal
  const progress = (uploadedBytes: number) => options.onProgress?.({ uploadedBytes, totalBytes })

  let fileId = options.fileId
  let upload: Upload | undefined
  if (fileId === undefined) {
    upload = await client.presign(
      {
        filename: options.filename,
        external_id: options.externalId,
        file_size: totalBytes,
        ...(options.contentType ? { content_type: options.contentType } : {}),
        ...(options.sha256 ? { sha256: options.sha256 } : {}),
        ...(options.multipart !== undefined ? { multipart: options.multipart } : {}),
      },
      signal ? { signal } : {},
    )
    fileId = upload.file_id
    await options.onUploadCreated?.(upload)
  }

  // A resumed file that is past PENDING was confirmed already: no bytes to send, and confirming again changes nothing.
  const resumedStatus = upload ? undefined : (await client.getFile(fileId, signal ? { signal } : {})).file.status
  if (upload?.upload_type === 'post') {
    const post = upload
    const send = options.postToStorage ?? ((u, s, _onSent, sig) => postForm(u, s, { filename: options.filename, fetch: client.fetch, ...(sig ? { signal: sig } : {}) }))
    // Sending the same bytes again under the same policy writes the same key: a repeat is safe until it expires.
    await retry(
      async () => {
        progress(0)
        const stored = await send(post, body, progress, signal)
        if (stored.status < 200 || stored.status >= 300) throw new StorageError(stored.status, stored.body)
      },
      {
        ...client.retryOptions,
        ...(signal ? { signal } : {}),
        request: 'POST storage',
        shouldRetry: (error) => isNetworkError(error) || (error instanceof StorageError && isRetryableStatus(error.status)),
      },
    )
    progress(totalBytes)
  } else if (upload || resumedStatus === 'PENDING') {
    const result = await uploadParts({
      fileId,
      source,
      api: client,
      fetch: client.fetch,
      retry: client.retryOptions,
      ...(options.partConcurrency ? { concurrency: options.partConcurrency } : {}),
      ...(options.partChecksums ? { checksums: true } : {}),
      ...(signal ? { signal } : {}),
      onProgress: (p) => progress(p.bytesDone),
    })
    options.onPartsDone?.(result)
  }
  await client.confirm(fileId, totalBytes, signal ? { signal } : {})
  return (await client.getFile(fileId, signal ? { signal } : {})).file
}
