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
