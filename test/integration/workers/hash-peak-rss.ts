/**
 * One hash invocation in a process of its own, so that its peak RSS belongs to one file alone. It runs on the
 * environment it is given (the test's, or the benchmark's for bench/hash-memory.ts). argv[2] = file id.
 * Prints JSON { outcome, baselineRssBytes, peakRssBytes }: the peak before the read (modules, clients,
 * connections and the hasher loaded) and at its end.
 */
import { readFileSync } from 'node:fs'
import { deps } from '../../../functions/core/deps.js'
import { resumeHash } from '../../../functions/core/hashing.js'
import { syncFile } from '../../../functions/core/sync.js'

/**
 * This process's own peak: VmHWM belongs to the address space exec gave it. getrusage's maxRSS (process.resourceUsage)
 * does not: Linux carries the parent's peak across fork and exec, so a child of a test holding the object reports that.
 */
const peakRss = () => Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024
// Everything but the read itself is loaded first, so the baseline holds what any size pays alike.
await deps().db.selectFrom('files').select('id').limit(1).execute()
await deps().storage.ping()
await resumeHash(undefined)
const baselineRssBytes = peakRss()
const outcome = await syncFile(deps(), process.argv[2]!, { receiveCount: 1 })
process.stdout.write(`${JSON.stringify({ outcome, baselineRssBytes, peakRssBytes: peakRss() })}\n`)
await deps().close()
