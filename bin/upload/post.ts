import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'

export interface StoragePost {
  upload_url: string
  form_fields: Record<string, string>
}

export interface PostedFile {
  path: string
  size: number
  filename: string
}

export interface StorageAnswer {
  status: number
  body: string
  /** SHA-256 of exactly the bytes sent. */
  sha256: string
}

// Quotes and line breaks would end the header; the object key never uses the name anyway.
const headerSafe = (name: string): string => name.replace(/["\r\n\\]/g, '_')

/**
 * The browser's multipart POST to storage, streamed from disk: every policy field, then the file
 * part last. The body has a known length (S3 refuses chunked POSTs), so memory does not grow with
 * the file, and the file is hashed on its way out.
 */
export async function postFileToStorage(post: StoragePost, file: PostedFile, onProgress: (sent: number) => void): Promise<StorageAnswer> {
  const boundary = `----upload-${randomBytes(12).toString('hex')}`
  const contentType = post.form_fields['Content-Type'] ?? 'application/octet-stream'
  const head = Buffer.from(
    Object.entries(post.form_fields)
      .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
      .join('') +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${headerSafe(file.filename)}"\r\n` +
      `Content-Type: ${contentType}\r\n\r\n`,
  )
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)

  const url = new URL(post.upload_url)
  const request = (url.protocol === 'https:' ? https : http).request(url, {
    method: 'POST',
    headers: {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + file.size + tail.length),
    },
  })
  let answered = false
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.on('response', (response) => {
      answered = true
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      response.on('error', reject)
    })
    request.on('error', (error) => {
      // Storage may refuse (e.g. EntityTooLarge) and close before the body is sent; its answer wins.
      if (!answered) reject(error)
    })
  })
  // Keep the rejection handled while the body is still being written.
  answer.catch(() => undefined)

  const hash = createHash('sha256')
  let sent = 0
  request.write(head)
  for await (const chunk of createReadStream(file.path)) {
    if (answered || request.destroyed) break
    hash.update(chunk as Buffer)
    sent += (chunk as Buffer).length
    onProgress(sent)
    if (!request.write(chunk)) await Promise.race([once(request, 'drain'), answer])
  }
  if (!answered && sent !== file.size) {
    request.destroy()
    throw new Error(`${file.path} changed while it was being uploaded (${sent} of ${file.size} bytes read)`)
  }
  if (!answered) request.end(tail)
  const { status, body } = await answer
  return { status, body, sha256: hash.digest('hex') }
}
