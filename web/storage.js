import { describeStorageError } from './messages.js'

export class StorageError extends Error {}

/**
 * Uploads `file` straight to storage with its presigned POST: every policy field, then the file
 * last (S3 ignores fields after it). XMLHttpRequest rather than fetch because only XHR reports
 * upload progress.
 */
export function uploadToStorage(post, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData()
    for (const [name, value] of Object.entries(post.form_fields)) form.append(name, value)
    form.append('file', file)

    const xhr = new XMLHttpRequest()
    xhr.open('POST', post.upload_url)
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total)
    })
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1)
        // Readable only because the bucket's CORS rule exposes it.
        resolve({ etag: xhr.getResponseHeader('ETag') })
      } else {
        reject(new StorageError(describeStorageError(xhr.status, xhr.responseText)))
      }
    })
    xhr.addEventListener('error', () => reject(new StorageError(describeStorageError(0, ''))))
    xhr.addEventListener('timeout', () => reject(new StorageError('Storage did not answer in time: try again.')))
    xhr.send(form)
  })
}
