import { CliError, EXIT } from './errors.js'

export interface FileView {
  id: string
  filename: string
  status: 'PENDING' | 'UPLOADED' | 'SYNCING' | 'SYNCED' | 'FAILED' | 'EXPIRED'
  sha256: string | null
  file_size: number | null
  error: { code: string; message: string } | null
  /** While SYNCING: bytes the pipeline has hashed so far. */
  hashed_bytes?: number
}

export interface PresignAnswer {
  file_id: string
  upload_url: string
  form_fields: Record<string, string>
  expires_at: string
  max_file_size: number
}

/** Statuses the API answers that retrying later may fix. */
const TRANSIENT = new Set([429, 500, 502, 503, 504])

/** The HTTP API as this CLI uses it; failures become CliErrors with the right exit code. */
export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.baseUrl)
    let response: Response
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      })
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name
      throw new CliError(EXIT.SERVICE, `cannot reach the service at ${this.baseUrl} (${cause})`)
    }
    const text = await response.text()
    let json: any
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      json = undefined
    }
    if (response.ok && json !== undefined) return json as T
    const code: string | undefined = json?.error?.code
    const message: string = json?.error?.message ?? `HTTP ${response.status}`
    if (response.status === 401) {
      throw new CliError(EXIT.USAGE, 'the service rejected the token (UNAUTHORIZED): pass a valid one with --token or UPLOAD_TOKEN')
    }
    if (TRANSIENT.has(response.status) || code === undefined) {
      throw new CliError(EXIT.SERVICE, `service error on ${method} ${url.pathname}: ${code ?? `HTTP ${response.status}`} ${message}`)
    }
    throw new CliError(EXIT.FAILED, `${message} (${code})`)
  }

  presign(input: { filename: string; external_id: string; file_size: number; content_type?: string }): Promise<PresignAnswer> {
    return this.request('POST', '/files/presigned-upload', input)
  }

  confirm(fileId: string, fileSize: number): Promise<{ files: { file_id: string; status: string }[] }> {
    return this.request('POST', '/files/confirm-uploads', { file_id: fileId, file_size: fileSize })
  }

  async getFile(fileId: string): Promise<FileView> {
    const answer = await this.request<{ file: FileView }>('GET', `/files/${encodeURIComponent(fileId)}`)
    return answer.file
  }
}

/** S3's XML error answer, `<Error><Code>…</Code><Message>…</Message></Error>`, as one line. */
export function storageRefusal(status: number, xml: string): CliError {
  const field = (tag: string) => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1]
  const code = field('Code')
  const message = field('Message')
  const text = `storage refused the upload: ${code ?? `HTTP ${status}`}${message ? ` ${message}` : ''}`
  return new CliError(status >= 500 ? EXIT.SERVICE : EXIT.FAILED, text)
}
