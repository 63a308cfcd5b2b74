/**
 * One hash invocation in a process of its own, reading slowly so that a test can SIGKILL it between
 * checkpoints. argv[2] = file id. Prints, line by line, the bytes storage has delivered to it so far.
 */
import { deps } from '../../../functions/core/deps.js'
import { syncFile } from '../../../functions/core/sync.js'
import { applyTestEnvironment } from '../../fixtures/env.js'
import { tapReads } from '../../fixtures/counting-store.js'

applyTestEnvironment()
const { reads } = tapReads(deps().storage, { delayPerChunkMs: Number(process.env.DELAY_PER_CHUNK_MS ?? 20) })
const report = setInterval(() => process.stdout.write(`${reads.reduce((sum, r) => sum + r.bytes, 0)}\n`), 5)
await syncFile(deps(), process.argv[2]!, { receiveCount: 1 })
clearInterval(report)
await deps().close()
