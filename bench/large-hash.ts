/**
 * `tsx bench/large-hash.ts [--gib=3]`: the demonstration that hashing a large file is visible and right.
 * Writes a file of incompressible bytes, takes `sha256sum` of it, starts the local runtime in a process of its
 * own (as `npm start`, on the bench resources), uploads the file with the CLI (`bin/upload.ts`: multipart, as a
 * client would), samples `GET /files/{id}` every 2 s while the file is SYNCING, and checks the final SHA-256
 * against `sha256sum`. The object and the file are deleted at the end. Scanning is off (clamd does not take
 * streams this long; the scanner is a separate concern) and HASH_INVOCATION_BUDGET_MS caps each invocation
 * (default 20 s) so that continuations show too. Prints the samples as a markdown table.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { benchBlock } from './block.js'
import { applyBenchEnvironment } from './env.js'
import { fmt, MiB, table } from './stats.js'

const gib = Number(process.argv.find((a) => a.startsWith('--gib='))?.slice('--gib='.length) ?? 3)
const size = Math.round(gib * 1024 * MiB)
process.env.MALWARE_SCANNER = 'off'
process.env.HASH_INVOCATION_BUDGET_MS ??= '20000'
applyBenchEnvironment()
const root = fileURLToPath(new URL('..', import.meta.url))
const log = (line: string) => console.error(`large-hash: ${line}`)

const { provision } = await import('../localstack/provision.js')
const { bootstrapDatabase } = await import('../bin/local/database.js')
const { spawnRuntime } = await import('./runtime-process.js')
const { tokenFor } = await import('../test/fixtures/pipeline.js')
const { deps } = await import('../functions/core/deps.js')

await bootstrapDatabase(process.env.DATABASE_URL!)
// The runtime process derives its queues from the bench prefix (bench/runtime-server.ts), so those are the ones to have.
await provision({ env: process.env })
const runId = Date.now().toString(36)

const dir = await mkdtemp(join(tmpdir(), 'large-hash-'))
const path = join(dir, `large-${gib}GiB.bin`)
{
  // A 16 MiB AES-CTR block, each copy stamped with its index so no two blocks are alike.
  const block = benchBlock(16 * MiB)
  const out = createWriteStream(path)
  for (let at = 0; at < size; at += block.length) {
    const piece = Buffer.from(block.subarray(0, Math.min(block.length, size - at)))
    piece.writeUInt32BE(at / block.length, 0)
    if (!out.write(piece)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
  }
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject)
    out.end(() => resolve())
  })
}
const expected = spawnSync('sha256sum', [path], { encoding: 'utf8' }).stdout.split(' ')[0]!
log(`${gib} GiB file written; sha256sum ${expected}`)

const runtime = await spawnRuntime(root)
const token = await tokenFor('large-hash', '4h')
const api = async (method: string, route: string) => {
  const response = await fetch(`${runtime.url}${route}`, { method, headers: { authorization: `Bearer ${token}` } })
  return response.status === 204 ? undefined : ((await response.json()) as any)
}
const externalId = `large-${runId}`
const started = Date.now()
/**
 * The CLI, run again as its usage says after a service error: LocalStack can take longer to assemble a few hundred
 * parts than confirm's 29 s, and a repeated run resumes the same upload and repeats the (idempotent) confirm.
 */
let cliOut = ''
const runCli = () => {
  const cli = spawn(process.execPath, ['--import', 'tsx', 'bin/upload.ts', path, '--api', runtime.url, '--token', token, '--external-id', externalId, '--timeout', '3600', '--quiet'], {
    cwd: root,
    env: process.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  cli.stdout.setEncoding('utf8').on('data', (text: string) => (cliOut += text))
  return new Promise<number | null>((resolve) => cli.once('exit', resolve))
}
const uploaded = (async () => {
  let code = await runCli()
  for (let retry = 1; retry <= 3 && code === 3; retry++) {
    log(`CLI exit 3 (service error); running it again (${retry})`)
    await new Promise((resolve) => setTimeout(resolve, 10_000))
    code = await runCli()
  }
  return code
})()

interface Sample {
  seconds: number
  status: string
  hashedBytes: number | undefined
}
const samples: Sample[] = []
let fileId: string | undefined
let finished = false
void uploaded.then(() => (finished = true))
for (let view: any; !finished; await new Promise((resolve) => setTimeout(resolve, 2000))) {
  if (!fileId) fileId = (await api('GET', `/files?external_id=${externalId}`))?.files?.[0]?.id
  if (!fileId) continue
  view = (await api('GET', `/files/${fileId}`))?.file
  if (!view) continue
  const sample = { seconds: (Date.now() - started) / 1000, status: view.status as string, hashedBytes: view.hashed_bytes as number | undefined }
  samples.push(sample)
  if (sample.status === 'SYNCING') log(`${fmt(sample.seconds)} s: SYNCING, hashed_bytes ${sample.hashedBytes ?? '-'}`)
  if (['SYNCED', 'FAILED', 'QUARANTINED'].includes(sample.status)) break
}
const exitCode = await uploaded
const final = fileId ? (await api('GET', `/files/${fileId}`))?.file : undefined
const attempts = fileId ? (await deps().db.selectFrom('files').select('sync_attempts').where('id', '=', fileId).executeTakeFirst())?.sync_attempts : undefined
await deps().close()
if (fileId) await api('DELETE', `/files/${fileId}`)
await runtime.stop()
await rm(dir, { recursive: true, force: true })

const syncing = samples.filter((s) => s.status === 'SYNCING')
const rising = syncing.filter((s) => s.hashedBytes !== undefined).map((s) => s.hashedBytes!)
const shown = syncing.filter((_, i) => i % Math.max(1, Math.ceil(syncing.length / 12)) === 0)
console.log(
  [
    `${gib} GiB (${size} bytes) uploaded with bin/upload.ts (multipart) through the local runtime; MALWARE_SCANNER=off, HASH_INVOCATION_BUDGET_MS=${process.env.HASH_INVOCATION_BUDGET_MS}.`,
    '',
    table(['s since the upload started', 'status', 'hashed_bytes', 'MiB hashed'], shown.map((s) => [fmt(s.seconds), s.status, String(s.hashedBytes ?? '-'), s.hashedBytes === undefined ? '-' : fmt(s.hashedBytes / MiB, 0)])),
    '',
    `Final: ${final?.status} at ${fmt((Date.now() - started) / 1000)} s, sha256 ${final?.sha256}; sha256sum ${expected}: ${final?.sha256 === expected ? 'equal' : 'DIFFERENT'}. ` +
      `hashed_bytes rose in ${new Set(rising).size} steps over ${syncing.length} SYNCING samples (never fell: ${rising.every((b, i) => i === 0 || b >= rising[i - 1]!)}); claims (sync_attempts): ${attempts}; CLI exit ${exitCode}, CLI line: ${cliOut.trim()}`,
  ].join('\n'),
)
process.exit(final?.sha256 === expected && exitCode === 0 ? 0 : 1)
