/**
 * One hashing measurement in a fresh process, so that peak RSS belongs to one size and one mode.
 * Bundled by bench/hashing.ts and run with plain node (no loader in the process).
 *   argv[2] = JSON { mode: 'hash' | 'drain' | 'drain-plain' | 'memory', key, size, blockBytes }
 * Prints JSON { ms, bytes, sha256, cpuMs, maxRssBytes }.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { loadConfig } from '../functions/core/config.js'
import { digestStream } from '../functions/core/hashing.js'
import { createObjectStore, createS3Client } from '../functions/core/storage.js'
import { benchBlock } from './block.js'

interface Job {
  mode: 'hash' | 'drain' | 'drain-plain' | 'memory'
  key: string
  size: number
  blockBytes: number
}

const job = JSON.parse(process.argv[2]!) as Job
let cpuAtStart = process.cpuUsage()
const config = loadConfig()
let result: { bytes: number; sha256: string }
let ms: number

if (job.mode === 'memory') {
  // The CPU limit: the same bytes, already in memory.
  const block = benchBlock(job.blockBytes)
  cpuAtStart = process.cpuUsage()
  const started = performance.now()
  const hash = createHash('sha256')
  for (let done = 0; done < job.size; done += block.length) hash.update(block.subarray(0, Math.min(block.length, job.size - done)))
  ms = performance.now() - started
  result = { bytes: job.size, sha256: hash.digest('hex') }
} else {
  const s3 = createS3Client(config)
  const storage = createObjectStore(s3, config.bucketName)
  cpuAtStart = process.cpuUsage()
  const started = performance.now()
  const object = await storage.getStream({ key: job.key, versionId: null, size: job.size })
  if (!object) throw new Error(`no object ${job.key}`)
  if (job.mode === 'hash') {
    // The hash function's path: exactly what syncFile does with the stream.
    const digest = await digestStream(object.body, config.cacheMaxBytes)
    result = { bytes: digest.size, sha256: digest.sha256 }
  } else {
    // The storage limit: the same loop without the hash. `drain` frees chunks on digestStream's
    // cadence (a minor GC every 4 MiB) so the two differ only by SHA-256; `drain-plain` does not.
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as (options: { type: 'minor' }) => void
    let bytes = 0
    let since = 0
    for await (const chunk of object.body) {
      bytes += (chunk as Uint8Array).length
      since += (chunk as Uint8Array).length
      if (job.mode === 'drain' && since >= 4 * 1024 * 1024) {
        since = 0
        gc({ type: 'minor' })
      }
    }
    result = { bytes, sha256: '' }
  }
  ms = performance.now() - started
  s3.destroy()
}

const cpu = process.cpuUsage(cpuAtStart)
// VmHWM is this process's own peak: getrusage's maxRSS (process.resourceUsage) carries the parent's peak across fork and exec.
const peakRss = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024
process.stdout.write(JSON.stringify({ ms, ...result, cpuMs: (cpu.user + cpu.system) / 1000, maxRssBytes: peakRss }))
