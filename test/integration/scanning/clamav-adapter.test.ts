import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createClamavScanner } from '../../../functions/core/clamav.js'
import { loadConfig, type MalwareScanningConfig } from '../../../functions/core/config.js'
import { ScannerUnavailableError, type ScanSession } from '../../../functions/core/scanner.js'
import { EICAR_SIGNATURE, eicar } from '../../fixtures/malware.js'
import { root } from '../../fixtures/pipeline.js'

// The machine's clamd (scripts/clamd.sh, run by `npm test`), with the project's test signatures only.
const shared = loadConfig(process.env).malwareScanning
const scannerWith = (overrides: Partial<MalwareScanningConfig> = {}) => createClamavScanner({ ...shared, ...overrides })

async function scanChunks(session: ScanSession, chunks: readonly Buffer[]) {
  for (const chunk of chunks) await session.update(chunk)
  return session.finish()
}

const servers: (Server & { closeAllConnections?: () => void })[] = []
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections?.()
      return new Promise((resolve) => s.close(resolve))
    }),
  )
})

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A TCP server of the test's own that accepts and then never answers, as a wedged clamd would. */
async function silentServer(): Promise<number> {
  const sockets = new Set<Socket>()
  const server = Object.assign(createServer((socket) => sockets.add(socket)), {
    closeAllConnections: () => sockets.forEach((s) => s.destroy()),
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as { port: number }).port
}

describe('the ClamAV adapter against a real clamd (INSTREAM)', () => {
  it('finds the EICAR test file', async () => {
    const bytes = eicar()
    await expect(scanChunks(scannerWith().begin({ size: bytes.length }), [bytes])).resolves.toEqual({
      kind: 'infected',
      threat: EICAR_SIGNATURE,
    })
  })

  it('finds EICAR when the hash stage hands it over in pieces', async () => {
    const bytes = eicar()
    const pieces = [bytes.subarray(0, 10), bytes.subarray(10, 11), bytes.subarray(11, 40), bytes.subarray(40)]
    await expect(scanChunks(scannerWith().begin({ size: bytes.length }), pieces)).resolves.toMatchObject({ kind: 'infected' })
  })

  it('passes a clean file streamed in many chunks', async () => {
    const chunks = Array.from({ length: 40 }, () => randomBytes(64 * 1024))
    await expect(scanChunks(scannerWith().begin({ size: 40 * 64 * 1024 }), chunks)).resolves.toEqual({ kind: 'clean' })
  })

  it('calls a file over its configured limit unscannable without sending it', async () => {
    // Port 1 has no clamd: a connection attempt would surface as "unavailable", not as this verdict.
    const session = scannerWith({ maxScanBytes: 1024, clamdPort: 1 }).begin({ size: 1025 })
    await expect(scanChunks(session, [randomBytes(1025)])).resolves.toEqual({
      kind: 'unscannable',
      reason: "1025 bytes is over the scanner's limit of 1024 bytes",
    })
  })

  describe('against a clamd whose own limit is below the configured one', () => {
    // A clamd of this file's own, started by the project's script with a 1 MiB StreamMaxLength in a folder of its
    // own: the machine's clamd takes streams up to 2 GiB, too much to send in a test.
    let home: string
    let port: number
    beforeAll(async () => {
      home = await mkdtemp(join(tmpdir(), 'clamd-small-'))
      port = await freePort()
      await promisify(execFile)('bash', [join(root, 'scripts/clamd.sh')], {
        env: { ...process.env, CLAMD_HOME: home, CLAMD_PORT: String(port), CLAMD_STREAM_MAX_LENGTH: '1M' },
      })
    }, 120_000)
    afterAll(async () => {
      const pid = Number(await readFile(join(home, 'clamd.pid'), 'utf8').catch(() => ''))
      if (pid > 0) process.kill(pid)
      await rm(home, { recursive: true, force: true })
    })

    it("does not read clamd's own stream limit as clean", async () => {
      const chunk = randomBytes(256 * 1024)
      const session = scannerWith({ clamdPort: port, maxScanBytes: 64 * 1024 * 1024 }).begin({ size: 8 * chunk.length })
      const verdict = await scanChunks(session, Array.from({ length: 8 }, () => chunk))
      expect(verdict).toMatchObject({ kind: 'unscannable' })
      expect(verdict.kind === 'unscannable' && verdict.reason).toMatch(/size limit exceeded/i)
    })
  })

  it('reports an unreachable clamd as unavailable, never as a verdict', async () => {
    const port = await silentServer()
    await new Promise((resolve) => servers.pop()!.close(resolve))
    const bytes = eicar()
    await expect(scanChunks(scannerWith({ clamdPort: port }).begin({ size: bytes.length }), [bytes])).rejects.toBeInstanceOf(
      ScannerUnavailableError,
    )
  })

  it('gives up on a clamd that accepts but never answers', async () => {
    const port = await silentServer()
    const bytes = randomBytes(100)
    const session = scannerWith({ clamdPort: port, clamdTimeoutMs: 300 }).begin({ size: bytes.length })
    await expect(scanChunks(session, [bytes])).rejects.toThrow(/did not answer within \d+ ms/)
  })
})
