import { ApiError, isNetworkError, NetworkError, PartUploadError, SettleTimeoutError, StorageError } from '../../client/src/index.js'

/** Exit codes of `npm run upload`, for scripts. */
export const EXIT = {
  OK: 0,
  /** A file was refused, failed processing, or its SHA-256 did not match. */
  FAILED: 1,
  /** Bad arguments, an unreadable file, or a missing or rejected token. */
  USAGE: 2,
  /** The service or storage could not be reached or answered with a server error; retrying may help. */
  SERVICE: 3,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

export class CliError extends Error {
  override readonly name = 'CliError'
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message)
  }
}

/**
 * What a failure of the client library means for the CLI's user: a one-line message and the exit code. The library
 * has already retried what a retry may fix, so a 429 or 5xx here is the service's lasting trouble (exit 3), and any
 * other refusal is the file's (exit 1). `uploading` names the file whose bytes were on their way to storage.
 */
export function cliErrorFor(error: unknown, context: { api: string; uploading?: { path: string; resumable: boolean } }): CliError {
  if (error instanceof CliError) return error
  if (error instanceof ApiError) {
    if (error.status === 401) {
      return new CliError(EXIT.USAGE, 'the service rejected the token (UNAUTHORIZED): pass a valid one with --token or UPLOAD_TOKEN')
    }
    if (error.status === 429 || error.status >= 500 || error.code === undefined) {
      return new CliError(EXIT.SERVICE, `service error: ${error.code ?? `HTTP ${error.status}`} ${error.message}`)
    }
    return new CliError(EXIT.FAILED, `${error.message} (${error.code})`)
  }
  if (error instanceof NetworkError) return new CliError(EXIT.SERVICE, `cannot reach the service at ${context.api} (${error.detail ?? 'network error'})`)
  if (error instanceof SettleTimeoutError) return new CliError(EXIT.SERVICE, error.message)
  if (error instanceof StorageError) return new CliError(error.status >= 500 ? EXIT.SERVICE : EXIT.FAILED, error.message)
  const upload = context.uploading
  if (upload && (error instanceof PartUploadError || isNetworkError(error) || (error as NodeJS.ErrnoException).code !== undefined)) {
    const code = (error as NodeJS.ErrnoException).code ?? ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code
    const exit = error instanceof PartUploadError && error.status < 500 ? EXIT.FAILED : EXIT.SERVICE
    const again = upload.resumable ? '; run the same command again to resume' : ''
    return new CliError(exit, `cannot upload ${upload.path} to storage: ${code ?? (error as Error).message}${again}`)
  }
  if (upload && error instanceof Error) return new CliError(EXIT.SERVICE, `cannot upload ${upload.path} to storage: ${error.message}`)
  return new CliError(EXIT.SERVICE, `unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
}
