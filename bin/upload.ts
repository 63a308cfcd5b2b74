/**
 * `npm run -s upload -- <files…> [--external-id ID] [--api URL] [--token T]`: uploads files the
 * way a client should (presign, stream to storage, confirm), waits until each is SYNCED and checks
 * the service's SHA-256 against one computed locally from the bytes sent.
 *
 * stdout: `<sha256>  <file>` per verified file (the `sha256sum` format, so `sha256sum -c` reads it).
 * stderr: progress and messages. Exit codes: see EXIT in bin/upload/errors.ts.
 */
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { parseArgs } from 'node:util'
import { ApiClient, storageRefusal, type FileView } from './upload/client.js'
import { CliError, EXIT, type ExitCode } from './upload/errors.js'
import { postFileToStorage } from './upload/multipart.js'
import { ProgressBar } from './upload/progress.js'

const USAGE = `usage: npm run -s upload -- <files…> [options]

  --external-id ID     groups the files in the service (default: cli)
  --api URL            the HTTP API (default: $UPLOAD_API_URL or http://127.0.0.1:3000)
  --token T            bearer token (default: $UPLOAD_TOKEN; get one with npm run -s token -- alice)
  --content-type T     Content-Type for every file (default: inferred by the service from the extension)
  --timeout SECONDS    how long to wait for each file to be SYNCED (default: 300)
  --quiet              no progress on stderr

Prints "<sha256>  <file>" for every file the service stored with the SHA-256 computed here.
Exit codes: 0 all verified, 1 a file was refused, failed or did not match,
            2 usage or token error, 3 service or network error.`

interface Options {
  files: string[]
  externalId: string
  api: string
  token: string
  contentType: string | undefined
  timeoutMs: number
  quiet: boolean
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options | 'help' {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'external-id': { type: 'string' },
        api: { type: 'string' },
        token: { type: 'string' },
        'content-type': { type: 'string' },
        timeout: { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (error) {
    throw new CliError(EXIT.USAGE, (error as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) return 'help'
  if (positionals.length === 0) throw new CliError(EXIT.USAGE, 'no files given')
  const token = (values.token ?? env.UPLOAD_TOKEN ?? '').trim()
  if (!token) throw new CliError(EXIT.USAGE, 'no token: pass --token or set UPLOAD_TOKEN (npm run -s token -- alice)')
  const api = values.api ?? env.UPLOAD_API_URL ?? 'http://127.0.0.1:3000'
  if (!/^https?:\/\/[^/]/.test(api) || !URL.canParse(api)) throw new CliError(EXIT.USAGE, `--api must be an http(s) URL, got "${api}"`)
  const timeout = Number(values.timeout ?? 300)
  if (!Number.isFinite(timeout) || timeout <= 0) throw new CliError(EXIT.USAGE, `--timeout must be a positive number of seconds, got "${values.timeout}"`)
  return {
    files: positionals,
    externalId: values['external-id'] ?? 'cli',
    api: api.replace(/\/+$/, ''),
    token,
    contentType: values['content-type'],
    timeoutMs: timeout * 1000,
    quiet: values.quiet ?? false,
  }
}

interface Uploaded {
  path: string
  fileId: string
  sha256: string
  size: number
}

async function upload(api: ApiClient, path: string, options: Options): Promise<Uploaded> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(EXIT.USAGE, `cannot read ${path}: ${error.code ?? error.message}`)
  })
  if (!info.isFile()) throw new CliError(EXIT.USAGE, `${path} is not a regular file`)
  const filename = basename(path)

  const post = await api.presign({
    filename,
    external_id: options.externalId,
    file_size: info.size,
    ...(options.contentType ? { content_type: options.contentType } : {}),
  })
  const bar = new ProgressBar(process.stderr, path, info.size, !options.quiet)
  bar.update(0)
  let stored
  try {
    stored = await postFileToStorage(post, { path, size: info.size, filename }, (sent) => bar.update(sent))
  } catch (error) {
    if (error instanceof CliError) throw error
    const code = (error as NodeJS.ErrnoException).code
    throw new CliError(EXIT.SERVICE, `cannot upload ${path} to storage: ${code ?? (error as Error).message}`)
  }
  if (stored.status < 200 || stored.status >= 300) throw storageRefusal(stored.status, stored.body)
  bar.update(info.size, true)

  await api.confirm(post.file_id, info.size)
  return { path, fileId: post.file_id, sha256: stored.sha256, size: info.size }
}

async function waitUntilSettled(api: ApiClient, uploaded: Uploaded, options: Options): Promise<FileView> {
  const { fileId } = uploaded
  const { timeoutMs } = options
  const deadline = Date.now() + timeoutMs
  // The pipeline's hashing progress (hashed_bytes while SYNCING): a large file takes a while, across invocations.
  const hashing = new ProgressBar(process.stderr, `${uploaded.path} (hashing)`, uploaded.size, !options.quiet, 'hashed')
  let delay = 100
  for (;;) {
    const file = await api.getFile(fileId)
    if (file.hashed_bytes !== undefined && file.hashed_bytes > 0) hashing.update(file.hashed_bytes)
    if (file.status === 'SYNCED' || file.status === 'FAILED' || file.status === 'EXPIRED') return file
    if (Date.now() + delay > deadline) {
      throw new CliError(EXIT.SERVICE, `file ${fileId} is still ${file.status} after ${timeoutMs / 1000} s`)
    }
    await new Promise((resolve) => setTimeout(resolve, delay))
    delay = Math.min(delay * 2, 1_000)
  }
}

/** Verifies one uploaded file: its stdout line on success, or the exit code it earns. */
async function verify(api: ApiClient, uploaded: Uploaded, options: Options): Promise<{ line: string } | { exitCode: ExitCode }> {
  const file = await waitUntilSettled(api, uploaded, options)
  if (file.status !== 'SYNCED') {
    const why = file.error ? `${file.error.message} (${file.error.code})` : file.status
    process.stderr.write(`upload: ${uploaded.path}: ${file.status}: ${why} [file ${file.id}]\n`)
    return { exitCode: EXIT.FAILED }
  }
  if (file.sha256 !== uploaded.sha256) {
    process.stderr.write(
      `upload: ${uploaded.path}: SHA-256 mismatch: service ${file.sha256}, local ${uploaded.sha256} [file ${file.id}]\n`,
    )
    return { exitCode: EXIT.FAILED }
  }
  if (!options.quiet) process.stderr.write(`upload: ${uploaded.path}: SYNCED [file ${file.id}]\n`)
  return { line: `${file.sha256}  ${uploaded.path}\n` }
}

/**
 * Uploads and confirms the files one after another, then waits for all of them. A refused file
 * does not stop the others; a usage, token or service error stops the run.
 */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<ExitCode> {
  const options = parseOptions(argv, env)
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return EXIT.OK
  }
  const api = new ApiClient(options.api, options.token)
  let exitCode: ExitCode = EXIT.OK
  const pending: { path: string; verdict: ReturnType<typeof verify> }[] = []
  for (const path of options.files) {
    try {
      const uploaded = await upload(api, path, options)
      const verdict = verify(api, uploaded, options)
      // Waiting starts now, so later uploads overlap with the hashing of earlier ones.
      verdict.catch(() => undefined)
      pending.push({ path, verdict })
    } catch (error) {
      if (!(error instanceof CliError) || error.exitCode !== EXIT.FAILED) throw error
      process.stderr.write(`upload: ${path}: ${error.message}\n`)
      exitCode = EXIT.FAILED
    }
  }
  // Lines come out in the order the files were given, like sha256sum's.
  for (const { path, verdict } of pending) {
    try {
      const result = await verdict
      if ('line' in result) process.stdout.write(result.line)
      else exitCode = result.exitCode
    } catch (error) {
      if (!(error instanceof CliError) || error.exitCode !== EXIT.FAILED) throw error
      process.stderr.write(`upload: ${path}: ${error.message}\n`)
      exitCode = EXIT.FAILED
    }
  }
  return exitCode
}

try {
  process.exitCode = await main(process.argv.slice(2), process.env)
} catch (error) {
  if (error instanceof CliError) {
    process.stderr.write(`upload: ${error.message}\n`)
    if (error.exitCode === EXIT.USAGE) process.stderr.write('run with --help for usage\n')
    process.exitCode = error.exitCode
  } else {
    process.stderr.write(`upload: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = EXIT.SERVICE
  }
}
