import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

export interface RuntimeProcess {
  url: string
  child: ChildProcess
  stop(): Promise<void>
}

/** Spawns bench/runtime-server.ts (tsx, like `npm start`), sending its log to .bench/runtime.log. */
export async function spawnRuntime(root: string): Promise<RuntimeProcess> {
  const child = spawn(process.execPath, [...(process.env.BENCH_RUNTIME_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', join(root, 'bench', 'runtime-server.ts')], {
    cwd: root,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logFile = createWriteStream(join(root, '.bench', 'runtime.log'))
  child.stderr!.pipe(logFile)
  const lines = createInterface({ input: child.stdout! })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the runtime did not start within 60 s (see .bench/runtime.log)')), 60_000)
    child.once('exit', (code) => reject(new Error(`the runtime exited with ${code} (see .bench/runtime.log)`)))
    lines.on('line', (line) => {
      if (line.startsWith('{"url"')) {
        clearTimeout(timer)
        resolve((JSON.parse(line) as { url: string }).url)
      } else logFile.write(`${line}\n`)
    })
  })
  return {
    url,
    child,
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 25_000)
      await exited
      clearTimeout(timer)
      logFile.end()
    },
  }
}
