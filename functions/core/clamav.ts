import { connect, type Socket } from 'node:net'
import { CLAMD_MAX_SCAN_TIME_MS } from '../../lib/settings.js'
import type { MalwareScanningConfig } from './config.js'
import { type MalwareScanner, type ScanSession, type ScanVerdict, ScannerUnavailableError } from './scanner.js'

/**
 * clamd's reply to INSTREAM (clamd(8)), NUL-terminated with the `z` command prefix. With `AlertExceedsMax yes`
 * (scripts/clamd.sh) a file past MaxFileSize/MaxScanSize is `Heuristics.Limits.Exceeded.* FOUND`; without it clamd
 * would answer OK, so neither that nor a stream over StreamMaxLength may read as clean.
 */
export function parseClamdReply(raw: string): ScanVerdict {
  const reply = raw.replace(/\0+$/, '').trim()
  if (reply === 'stream: OK') return { kind: 'clean' }
  const found = /^stream: (.+) FOUND$/.exec(reply)
  if (found?.[1]) {
    const name = found[1]
    if (name.startsWith('Heuristics.Limits.Exceeded')) return { kind: 'unscannable', reason: `clamd: ${name}` }
    return { kind: 'infected', threat: name }
  }
  if (/size limit exceeded/i.test(reply)) return { kind: 'unscannable', reason: `clamd: ${reply}` }
  throw new ScannerUnavailableError(`clamd gave no verdict: ${JSON.stringify(reply.slice(0, 200))}`)
}

const frameLength = (n: number): Buffer => {
  const header = Buffer.alloc(4)
  header.writeUInt32BE(n)
  return header
}

/**
 * ClamAV over clamd's INSTREAM protocol on `node:net`, streaming each chunk as the hash stage reads it. Owned
 * rather than taken from npm: the protocol is a command, length-prefixed chunks and one reply line, and the npm
 * clients (clamscan, clamdjs) want a whole stream or file to pipe, not chunks handed over one by one, and would
 * hide the distinction between "no verdict" and "over the limit" that this pipeline must keep.
 */
export function createClamavScanner(config: MalwareScanningConfig): MalwareScanner {
  return {
    begin({ size }) {
      if (size > config.maxScanBytes) {
        return overLimitSession(`${size} bytes is over the scanner's limit of ${config.maxScanBytes} bytes`)
      }
      return instreamSession(config, size)
    },
  }
}

function overLimitSession(reason: string): ScanSession {
  return { streams: false, update: async () => undefined, finish: async () => ({ kind: 'unscannable', reason }), abort: () => undefined }
}

/**
 * clamd scans only once the stream has ended, and is silent meanwhile. A second per 8 MiB, about a tenth of the
 * rate measured here (docs/BENCHMARKS.md, scanning), up to clamd's own MaxScanTime, tells a slow scan of a large
 * file from a wedged clamd.
 */
const SCAN_ALLOWANCE_BYTES_PER_SECOND = 8 * 1024 ** 2
const verdictWaitMs = (config: MalwareScanningConfig, size: number): number =>
  config.clamdTimeoutMs + Math.min(CLAMD_MAX_SCAN_TIME_MS, Math.ceil(size / SCAN_ALLOWANCE_BYTES_PER_SECOND) * 1000)

function instreamSession(config: MalwareScanningConfig, size: number): ScanSession {
  let failure: Error | undefined
  let reply = ''
  let ended = false
  const endWaiters: (() => void)[] = []
  const settle = () => {
    ended = true
    for (const wake of endWaiters.splice(0)) wake()
  }

  const socket: Socket = connect({ host: config.clamdHost, port: config.clamdPort })
  socket.setNoDelay(true)
  socket.setTimeout(config.clamdTimeoutMs, () => {
    failure ??= new ScannerUnavailableError(`clamd at ${config.clamdHost}:${config.clamdPort} did not answer within ${socket.timeout} ms`)
    socket.destroy()
  })
  socket.on('error', (error) => {
    failure ??= new ScannerUnavailableError(`clamd at ${config.clamdHost}:${config.clamdPort}: ${error.message}`, { cause: error })
  })
  socket.on('data', (data: Buffer) => {
    reply += data.toString('utf8')
    // One reply per INSTREAM; clamd may send it early (size limit) and close.
    if (reply.includes('\0')) socket.end()
  })
  socket.on('close', settle)
  socket.write('zINSTREAM\0')

  const write = (data: Buffer | Uint8Array): Promise<void> => {
    // Once clamd has replied or gone, the rest of the stream is of no use to it.
    if (ended || failure || reply) return Promise.resolve()
    if (socket.write(data)) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done)
        socket.off('close', done)
        resolve()
      }
      socket.once('drain', done)
      socket.once('close', done)
    })
  }

  return {
    streams: true,
    async update(chunk) {
      if (chunk.length === 0) return
      await write(frameLength(chunk.length))
      await write(chunk)
    },
    async finish() {
      socket.setTimeout(verdictWaitMs(config, size))
      await write(frameLength(0))
      if (!ended) await new Promise<void>((resolve) => endWaiters.push(resolve))
      if (reply.includes('\0')) return parseClamdReply(reply)
      throw failure ?? new ScannerUnavailableError('clamd closed the connection without a verdict')
    },
    abort() {
      socket.destroy()
    },
  }
}
