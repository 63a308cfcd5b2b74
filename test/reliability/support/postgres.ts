import { execFile } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './harness.js'

const run = promisify(execFile)

function binary(name: string): string {
  for (const dir of ['/usr/local/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin']) {
    if (existsSync(join(dir, name))) return join(dir, name)
  }
  return name
}

/** initdb refuses to run as root: run the cluster as the postgres user then. */
async function asOwner(command: string, args: string[]): Promise<void> {
  const isRoot = process.getuid?.() === 0
  await (isRoot ? run('runuser', ['-u', 'postgres', '--', binary(command), ...args]) : run(binary(command), args))
}

/**
 * A throwaway PostgreSQL cluster: `initdb` into a temporary directory, served on its own port. It is
 * stopped (by default `-m immediate`, i.e. a crash) and started for real; `destroy` removes it.
 */
export async function throwawayPostgres() {
  const dir = mkdtempSync(join(tmpdir(), 'reliability-pg-'))
  const data = join(dir, 'data')
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()))
  }
  chmodSync(dir, 0o700)
  const port = await freePort()
  await asOwner('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=100`
  const start = () => asOwner('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '60', 'start'])
  const stop = (mode: 'immediate' | 'fast' = 'immediate') => asOwner('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop'])
  await start()
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/upload_pipeline`,
    start,
    stop,
    async destroy() {
      await stop('immediate').catch(() => undefined)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
