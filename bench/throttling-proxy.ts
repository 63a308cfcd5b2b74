/**
 * A TCP proxy that caps what each connection receives at `bytesPerSecond`, the way S3 caps one connection
 * (requests go up unthrottled). Run as its own process (`node --import tsx bench/throttling-proxy.ts <target> <B/s>`,
 * prints `{"port":n}`), so that the process it serves, hashing on its event loop, never stalls its forwarding.
 */
import { spawn } from 'node:child_process'
import { createConnection, createServer, type Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/**
 * A connection may catch up this far behind its schedule: a late timer on a loaded machine is not taken for the cap,
 * while a connection idle between requests banks at most this much (a small token bucket, as a real link has).
 */
const CATCH_UP_MS = 100

/** Starts the proxy in this process; each connection is paced from its own send clock. */
export async function listenThrottled(target: URL, bytesPerSecond: number): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) })
    sockets.add(client).add(upstream)
    // When the next byte may leave.
    let due = performance.now()
    upstream.on('data', (chunk: Buffer) => {
      due = Math.max(due, performance.now() - CATCH_UP_MS) + (chunk.length / bytesPerSecond) * 1000
      const flushed = client.write(chunk)
      const wait = due - performance.now()
      if (wait > 1 || !flushed) {
        upstream.pause()
        let timed = wait <= 1
        let drained = flushed
        const resume = () => timed && drained && upstream.resume()
        if (!timed)
          setTimeout(() => {
            timed = true
            resume()
          }, wait)
        if (!drained)
          client.once('drain', () => {
            drained = true
            resume()
          })
      }
    })
    client.pipe(upstream)
    const end = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** Starts the proxy as a child process; `close` ends it. */
export async function spawnThrottlingProxy(target: URL, bytesPerSecond: number): Promise<{ url: string; close: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), target.href, String(bytesPerSecond)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const line = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the throttling proxy exited with ${code}`)))
    createInterface({ input: child.stdout! }).once('line', resolve)
  })
  const { port } = JSON.parse(line) as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [target, rate] = process.argv.slice(2)
  const proxy = await listenThrottled(new URL(target!), Number(rate))
  process.stdout.write(`${JSON.stringify({ port: proxy.port })}\n`)
  process.once('SIGTERM', () => void proxy.close().then(() => process.exit(0)))
}
