/**
 * `npm run -s upload -- <files…> [--external-id ID] [--api URL] [--token T]`: uploads files the
 * way a client should (presign, stream to storage, confirm), waits until each is SYNCED and checks
 * the service's SHA-256 against one computed locally from the bytes sent.
 *
 * stdout: `<sha256>  <file>` per verified file (the `sha256sum` format, so `sha256sum -c` reads it).
 * stderr: progress and messages. Exit codes: see EXIT in bin/upload/errors.ts.
 */
import { stat } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ApiError, UploadClient, type FileView } from '../client/src/index.js'
import { CliError, cliErrorFor, EXIT, type ExitCode } from './upload/errors.js'
import { fileSource, hashFile } from './upload/parts.js'
import { postFileToStorage } from './upload/post.js'
import { ProgressBar } from './upload/progress.js'
import { ResumeStore, resumeDir } from './upload/resume.js'

const USAGE = `usage: npm run -s upload -- <files…> [options]

  --external-id ID     groups the files in the service (default: cli)
  --api URL            the HTTP API (default: $UPLOAD_API_URL or http://127.0.0.1:3000)
  --token T            bearer token (default: $UPLOAD_TOKEN; get one with npm run -s token -- alice)
  --content-type T     Content-Type for every file (default: inferred by the service from the extension)
  --timeout SECONDS    how long to wait for each file to be SYNCED (default: 300)
  --parallel N         parts in flight at once for a large file (default: 8)
  --multipart          upload in parts whatever the size (the service decides otherwise)
  --quiet              no progress on stderr

Large files go up in parts. Interrupted (Ctrl-C, kill, network loss)? Run the same command again:
it resumes the same upload, sending only the parts storage does not hold yet. Resume state lives in
$UPLOAD_CACHE_DIR or ~/.cache/upload-pipeline/uploads, keyed by the file's path, size and mtime.

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
  parallel: number
  multipart: boolean
  quiet: boolean
  resume: ResumeStore
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
        parallel: { type: 'string' },
        multipart: { type: 'boolean' },
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
  const parallel = Number(values.parallel ?? 8)
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64) throw new CliError(EXIT.USAGE, `--parallel must be an integer from 1 to 64, got "${values.parallel}"`)
  return {
    files: positionals,
    externalId: values['external-id'] ?? 'cli',
    api: api.replace(/\/+$/, ''),
    token,
    contentType: values['content-type'],
    timeoutMs: timeout * 1000,
    parallel,
    multipart: values.multipart ?? false,
    quiet: values.quiet ?? false,
    resume: new ResumeStore(resumeDir(env)),
  }
}

interface Uploaded {
  path: string
  fileId: string
  sha256: string
  size: number
  /** Set for a multipart upload: its resume state goes once the file is settled. */
  resumed?: { absolutePath: string }
}

/** A status from which resuming can still lead to SYNCED: the upload continues (PENDING) or only waits. */
const RESUMABLE = new Set(['PENDING', 'UPLOADED', 'SYNCING', 'SYNCED'])

/** The file, or undefined when the service no longer knows it (another owner's, deleted or never there). */
async function findFile(api: UploadClient, fileId: string): Promise<FileView | undefined> {
  try {
    return (await api.getFile(fileId)).file
  } catch (error) {
    if (error instanceof ApiError && error.code === 'FILE_NOT_FOUND') return undefined
    throw error
  }
}

/**
 * Uploads and confirms one file through the client library. A large file goes in parts: the upload a previous run
 * left for the same path, size and mtime is resumed (only the parts storage lacks are sent), and a new one is
 * recorded before its first part is sent. A small one is streamed from disk in a form POST, hashed on its way out.
 */
async function upload(api: UploadClient, path: string, options: Options): Promise<Uploaded> {
  const unreadable = (error: NodeJS.ErrnoException): never => {
    throw new CliError(EXIT.USAGE, `cannot read ${path}: ${error.code ?? error.message}`)
  }
  const info = await stat(path).catch(unreadable)
  if (!info.isFile()) throw new CliError(EXIT.USAGE, `${path} is not a regular file`)
  const filename = basename(path)
  const absolutePath = resolve(path)

  const previous = await options.resume.load(absolutePath, info.size, info.mtimeMs, options.api)
  const known = previous && (await findFile(api, previous.fileId))
  const resumeId = previous && known && RESUMABLE.has(known.status) ? previous.fileId : undefined
  if (resumeId && !options.quiet) process.stderr.write(`upload: ${path}: resuming file ${resumeId} (${known!.status})\n`)

  // Parts go out in parallel and out of order; the local hash reads the file front to back meanwhile.
  let partsHash: Promise<string> | undefined
  const startHashing = () => {
    partsHash = hashFile(path)
    partsHash.catch(() => undefined)
  }
  if (resumeId) startHashing()
  let inParts = resumeId !== undefined
  let postedHash: string | undefined

  const source = await fileSource(path, info.size).catch(unreadable)
  const bar = new ProgressBar(process.stderr, path, info.size, !options.quiet)
  let file: FileView
  try {
    file = await api.upload(source, {
      filename,
      externalId: options.externalId,
      ...(options.contentType ? { contentType: options.contentType } : {}),
      // Starting over after a resume that cannot continue stays in parts, as the previous run was.
      ...(options.multipart || previous ? { multipart: true } : {}),
      ...(resumeId ? { fileId: resumeId } : {}),
      partConcurrency: options.parallel,
      partChecksums: true,
      async onUploadCreated(created) {
        if (created.upload_type !== 'multipart') return
        inParts = true
        await options.resume.save({ path: absolutePath, size: info.size, mtimeMs: info.mtimeMs, api: options.api, fileId: created.file_id })
        startHashing()
      },
      onProgress: (progress) => bar.update(progress.uploadedBytes),
      onPartsDone(result) {
        if (!options.quiet && result.resumedParts > 0) {
          process.stderr.write(`upload: ${path}: ${result.resumedParts} of ${result.partCount} parts were already stored; sent ${result.uploadedParts}\n`)
        }
      },
      async postToStorage(post, _source, onSent) {
        const stored = await postFileToStorage(post, { path, size: info.size, filename }, onSent)
        postedHash = stored.sha256
        return stored
      },
    })
  } catch (error) {
    throw cliErrorFor(error, { api: options.api, uploading: { path, resumable: inParts } })
  } finally {
    await source.close()
  }
  bar.update(info.size, true)
  const sha256 = postedHash ?? (await partsHash)
  if (sha256 === undefined) throw new CliError(EXIT.SERVICE, `${path}: no local SHA-256 to verify against`)
  return { path, fileId: file.id, sha256, size: info.size, ...(inParts ? { resumed: { absolutePath } } : {}) }
}

async function waitUntilSettled(api: UploadClient, uploaded: Uploaded, options: Options): Promise<FileView> {
  // The pipeline's hashing progress (hashed_bytes while SYNCING): a large file takes a while, across invocations.
  const hashing = new ProgressBar(process.stderr, `${uploaded.path} (hashing)`, uploaded.size, !options.quiet, 'hashed')
  return api.waitUntilSettled(uploaded.fileId, {
    timeoutMs: options.timeoutMs,
    maxIntervalMs: 1_000,
    onUpdate(file) {
      if (file.hashed_bytes !== undefined && file.hashed_bytes > 0) hashing.update(file.hashed_bytes)
    },
  })
}

/** Verifies one uploaded file: its stdout line on success, or the exit code it earns. */
async function verify(api: UploadClient, uploaded: Uploaded, options: Options): Promise<{ line: string } | { exitCode: ExitCode }> {
  const file = await waitUntilSettled(api, uploaded, options)
  // Settled either way: there is nothing left to resume.
  if (uploaded.resumed) await options.resume.remove(uploaded.resumed.absolutePath, options.api)
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
  const api = new UploadClient({
    baseUrl: options.api,
    token: options.token,
    // Waits the service asked for are worth a line; network retries are quick and usually unremarkable.
    onRetry(info) {
      if (options.quiet || (info.reason !== 'rate-limited' && info.reason !== 'unavailable')) return
      const why = info.reason === 'rate-limited' ? 'rate limited' : 'service unavailable'
      process.stderr.write(`upload: waiting ${Math.ceil(info.delayMs / 1000)} s (${why})\n`)
    },
  })
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
      const failure = cliErrorFor(error, { api: options.api })
      if (failure.exitCode !== EXIT.FAILED) throw failure
      process.stderr.write(`upload: ${path}: ${failure.message}\n`)
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
      const failure = cliErrorFor(error, { api: options.api })
      if (failure.exitCode !== EXIT.FAILED) throw failure
      process.stderr.write(`upload: ${path}: ${failure.message}\n`)
      exitCode = EXIT.FAILED
    }
  }
  return exitCode
}

// The resume state is on disk before the first part is sent, so an interrupted run only needs to say how to go on.
process.once('SIGINT', () => {
  process.stderr.write('\nupload: interrupted; run the same command again to resume\n')
  process.exit(130)
})

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
