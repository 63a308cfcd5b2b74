/**
 * The hash stage's read and hash loop (functions/core/sync.ts) against its limits, each beside a baseline
 * measured in the same run:
 * - in-memory SHA-256: hash-wasm (the checkpointable hasher) beside node:crypto, fed socket-sized chunks and whole ranges;
 * - what the store itself delivers (LocalStack, no proxy) with one stream and with N ranges;
 * - reads through a throttling TCP proxy (its own process, bench/throttling-proxy.ts) that caps every connection as S3
 *   does: one stream beside N ranges, as a ratio to min(hasher, N × cap), the issue's bound, and to
 *   min(hasher, N × cap, the store's N-range rate), what this machine can deliver at all;
 * - checkpointing (save, seal and the product's guarded UPDATE every interval) beside none;
 * - type sniffing on beside off.
 */
import { createHash, randomUUID } from 'node:crypto'
import type { S3Client } from '@aws-sdk/client-s3'
import type { Kysely } from 'kysely'
import type { Database } from '../functions/core/database.js'
import type { FileRecord } from '../functions/core/files.js'
import { claimForSync, saveHashCheckpoint } from '../functions/core/files.repository.js'
import { HASHER_TAG, resumeHash, singlePassHash, type ResumableHash } from '../functions/core/hashing.js'
import { InspectionRun } from '../functions/core/inspection.js'
import { readInOrder, type ReadWindow } from '../functions/core/ranged-read.js'
import { sniffContentType } from '../functions/core/sniff.js'
import { createObjectStore, createS3Client, type ObjectStore } from '../functions/core/storage.js'
import type { Config } from '../functions/core/config.js'
import { benchBlock } from './block.js'
import { ensureObject } from './hashing.js'
import { fmt, MiB, table, verdict, type Section } from './stats.js'
import { spawnThrottlingProxy } from './throttling-proxy.js'

export interface HashStageOptions {
  config: Config
  s3: S3Client
  db: Kysely<Database>
  sizeMiB: number
  capMiBps: number
  ranges: number
  log: (line: string) => void
}

const RANGE_GOAL = 0.85
const CHECKPOINT_GOAL = 0.03
const SNIFF_GOAL = 0.97
/** A per-connection cap LocalStack on this machine can serve N times over, for when it cannot serve N × `capMiBps`. */
const LOW_CAP_MIBPS = 16
/** Repeats of each throttled and checkpoint measurement, alternated so a slow moment of the machine hits both sides. */
const REPS = 3
/** The chunk a socket read hands the stream, and so the hasher on the single-stream path. */
const SOCKET_CHUNK = 64 * 1024

const rate = (bytes: number, ms: number) => bytes / MiB / (ms / 1000)
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!
const runs = (xs: readonly number[]) => xs.map((x) => fmt(x, 0)).join(' / ')

export async function benchHashStage(options: HashStageOptions): Promise<Section & { ok: boolean }> {
  const { config, s3, db, sizeMiB, capMiBps, ranges, log } = options
  const size = sizeMiB * MiB
  const block = benchBlock(16 * MiB)

  // In-memory rates over the same bytes, after a warm-up that lets V8 tier the WASM up.
  const memoryBytes = Math.min(size, 256 * MiB)
  const inMemory = (hash: { update(chunk: Uint8Array): void }, chunk: number) => {
    const started = performance.now()
    for (let done = 0; done < memoryBytes; done += chunk) {
      const at = done % block.length
      hash.update(block.subarray(at, at + Math.min(chunk, memoryBytes - done)))
    }
    return rate(memoryBytes, performance.now() - started)
  }
  const wasm = async () => (await resumeHash(undefined)).hash
  inMemory(await wasm(), config.hashRangeBytes)
  const memoryRates = { node: [] as number[], wasm: [] as number[], nodeSocket: [] as number[], wasmSocket: [] as number[] }
  for (let i = 0; i < REPS; i++) {
    memoryRates.node.push(inMemory(createHash('sha256'), config.hashRangeBytes))
    memoryRates.wasm.push(inMemory(await wasm(), config.hashRangeBytes))
    memoryRates.nodeSocket.push(inMemory(createHash('sha256'), SOCKET_CHUNK))
    memoryRates.wasmSocket.push(inMemory(await wasm(), SOCKET_CHUNK))
  }
  const nodeRate = median(memoryRates.node)
  const wasmRate = median(memoryRates.wasm)
  log(`hash-stage: in memory hash-wasm ${fmt(wasmRate)} MiB/s, node:crypto ${fmt(nodeRate)} MiB/s`)

  // Checkpoint overhead: the checkpointed hasher alone (its fastest, so the overhead at its largest share) with and
  // without a save, seal and the product's guarded UPDATE of a real SYNCING row every HASH_CHECKPOINT_BYTES.
  const claim = await checkpointRow(db, config, size)
  const checkpointRun = async (every: number | undefined) => {
    const hash = await wasm()
    let saves = 0
    let savingMs = 0
    const started = performance.now()
    for (let done = 0; done < size; done += config.hashRangeBytes) {
      const at = done % block.length
      hash.update(block.subarray(at, at + Math.min(config.hashRangeBytes, size - done)))
      if (every && hash.offset % every === 0) {
        const saving = performance.now()
        if (!(await saveHashCheckpoint(db, claim, HASHER_TAG, hash.offset, hash.save()))) throw new Error('checkpoint row lost its claim')
        savingMs += performance.now() - saving
        saves += 1
      }
    }
    hash.digest()
    const ms = performance.now() - started
    return { mibps: rate(size, ms), saves, share: savingMs / (ms - savingMs) }
  }
  // The goal's figure is the time spent saving over the time spent hashing, within the same runs: on a loaded
  // machine two separate runs differ by more than the few milliseconds a save costs. Paired rates are the cross-check.
  const shares: number[] = []
  const pairedOverheads: number[] = []
  let saves = 0
  for (let i = 0; i < REPS; i++) {
    const plain = await checkpointRun(undefined)
    const checkpointed = await checkpointRun(config.hashCheckpointBytes)
    saves = checkpointed.saves
    shares.push(checkpointed.share)
    pairedOverheads.push(1 - checkpointed.mibps / plain.mibps)
  }
  const overhead = median(shares)

  const key = await ensureObject(s3, config.bucketName, sizeMiB, block)
  const object = { key, versionId: null, size }

  /** The stage's loop: ordered read, optional hash, inspectors. */
  const stage = async (store: ObjectStore, target: { size: number }, window: ReadWindow, extra: { sniff?: boolean; hasher?: 'wasm' | 'node' | 'none' } = {}) => {
    const hash: ResumableHash | undefined = extra.hasher === 'none' ? undefined : extra.hasher === 'wasm' ? await wasm() : singlePassHash()
    const inspection = new InspectionRun(extra.sniff ? [sniffContentType({ contentType: 'application/octet-stream' } as FileRecord)!] : [])
    let bytes = 0
    const cpuAtStart = process.cpuUsage()
    const started = performance.now()
    for await (const chunk of readInOrder(store, { ...object, size: target.size }, 0, window)) {
      hash?.update(chunk)
      bytes += chunk.length
      await inspection.update(chunk)
    }
    await inspection.end()
    hash?.digest()
    if (bytes !== target.size) throw new Error(`read ${bytes} bytes of ${target.size}`)
    const ms = performance.now() - started
    const cpu = process.cpuUsage(cpuAtStart)
    readerCpu.set(extra.hasher ?? 'node', (cpu.user + cpu.system) / 1000 / ms)
    return rate(target.size, ms)
  }
  /** The reading process's CPU share (1 = one core) in the last run of each hasher: is the reader itself the limit? */
  const readerCpu = new Map<string, number>()
  const oneStream = (bytes: number): ReadWindow => ({ rangeBytes: bytes, concurrency: 1 })
  const window: ReadWindow = { rangeBytes: config.hashRangeBytes, concurrency: ranges }

  // What the store delivers with nothing in between: the ceiling of every throttled row on this machine.
  const direct = createObjectStore(s3, config.bucketName)
  const storeRates = { one: [] as number[], n: [] as number[] }
  for (let i = 0; i < REPS; i++) {
    storeRates.one.push(await stage(direct, object, oneStream(size), { hasher: 'none' }))
    storeRates.n.push(await stage(direct, object, window, { hasher: 'none' }))
  }
  const storeOne = median(storeRates.one)
  const storeN = median(storeRates.n)
  log(`hash-stage: store delivers ${fmt(storeOne)} MiB/s on one stream, ${fmt(storeN)} MiB/s on ${ranges} ranges`)

  // The same through the proxy with no cap: what the store delivers on the proxied path, whose copies cost CPU too.
  const proxiedN: number[] = []
  {
    const proxy = await spawnThrottlingProxy(new URL(config.awsEndpointUrl ?? 'http://127.0.0.1:4566'), Number.MAX_SAFE_INTEGER)
    const client = createS3Client({ ...config, awsEndpointUrl: proxy.url })
    try {
      for (let i = 0; i < REPS; i++) proxiedN.push(await stage(createObjectStore(client, config.bucketName), object, window, { hasher: 'none' }))
    } finally {
      client.destroy()
      await proxy.close()
    }
  }
  const storeProxiedN = median(proxiedN)
  log(`hash-stage: store through the uncapped proxy delivers ${fmt(storeProxiedN)} MiB/s on ${ranges} ranges`)

  /** One stream and N ranges through a proxy capping each connection at `cap` MiB/s. */
  const throttledRuns = async (cap: number, bytes: number) => {
    const proxy = await spawnThrottlingProxy(new URL(config.awsEndpointUrl ?? 'http://127.0.0.1:4566'), cap * MiB)
    const client = createS3Client({ ...config, awsEndpointUrl: proxy.url })
    // Times each ranged GetObject from request to response headers: the latency every range costs its connection.
    const plainStore = createObjectStore(client, config.bucketName)
    const latencies: number[] = []
    const store: ObjectStore = {
      ...plainStore,
      async getStream(object, range) {
        const asked = performance.now()
        const stream = await plainStore.getStream(object, range)
        latencies.push(performance.now() - asked)
        return stream
      },
    }
    const target = { size: bytes }
    try {
      const single = await stage(store, target, oneStream(bytes))
      latencies.splice(0)
      const parallel: number[] = []
      const parallelWasm: number[] = []
      for (let i = 0; i < REPS; i++) {
        parallel.push(await stage(store, target, window))
        parallelWasm.push(await stage(store, target, window, { hasher: 'wasm' }))
      }
      // Each range costs its connection one request's latency: twice the bytes per range halves that share.
      const doubled: number[] = []
      for (let i = 0; i < REPS; i++) doubled.push(await stage(store, target, { ...window, rangeBytes: 2 * window.rangeBytes }))
      log(`hash-stage: ${cap} MiB/s cap: one stream ${fmt(single)} MiB/s, ${ranges} ranges ${runs(parallel)} (hash-wasm ${runs(parallelWasm)}; ranges of twice the size ${runs(doubled)})`)
      return { cap, bytes, single, parallel, parallelWasm, doubled, latencyMs: median(latencies), wasmCpu: readerCpu.get('wasm') ?? Number.NaN }
    } finally {
      client.destroy()
      await proxy.close()
    }
  }
  const caps = [await throttledRuns(capMiBps, size)]
  // LocalStack shares two CPUs with everything else here; below N × cap, a lower cap shows whether ranges beat it.
  if (Math.min(storeN, storeProxiedN) < ranges * capMiBps) caps.push(await throttledRuns(LOW_CAP_MIBPS, Math.min(size, LOW_CAP_MIBPS * 16 * MiB)))

  const sniffed: number[] = []
  const plain: number[] = []
  for (let i = 0; i < REPS; i++) {
    plain.push(await stage(direct, object, window))
    sniffed.push(await stage(direct, object, window, { sniff: true }))
  }
  const sniffRatio = median(sniffed.map((s, i) => s / plain[i]!))

  // The single-pass hasher (node:crypto) reads objects up to HASH_SINGLE_PASS_MAX_BYTES, hash-wasm larger ones.
  const issueBound = (hasher: number, n: number, cap: number) => Math.min(hasher, n * cap)
  const storeBound = (hasher: number, n: number, cap: number) => Math.min(hasher, n * cap, n === 1 ? storeOne : Math.max(storeN, storeProxiedN))
  const rows: string[][] = []
  const goals: boolean[] = []
  for (const c of caps) {
    rows.push([
      `1 stream, ${c.cap} MiB/s cap, node:crypto (${c.bytes / MiB} MiB)`,
      fmt(c.single),
      `${fmt(issueBound(nodeRate, 1, c.cap))} / ${fmt(storeBound(nodeRate, 1, c.cap))}`,
      `${fmt(c.single / issueBound(nodeRate, 1, c.cap), 2)} / ${fmt(c.single / storeBound(nodeRate, 1, c.cap), 2)}`,
      '-',
    ])
    for (const [label, hasher, samples] of [
      ['node:crypto', nodeRate, c.parallel],
      ['hash-wasm', wasmRate, c.parallelWasm],
      [`node:crypto, ${(2 * window.rangeBytes) / MiB} MiB ranges`, nodeRate, c.doubled],
    ] as const) {
      const got = median(samples)
      const byIssue = got / issueBound(hasher, ranges, c.cap)
      const byStore = got / storeBound(hasher, ranges, c.cap)
      // The goal is judged at the configured range size; the doubled row shows what the range size costs.
      if (samples !== c.doubled) goals.push(byStore >= RANGE_GOAL)
      const storeLimited = storeBound(hasher, ranges, c.cap) < issueBound(hasher, ranges, c.cap)
      rows.push([
        `${ranges} ranges, ${c.cap} MiB/s cap each, ${label} (${c.bytes / MiB} MiB)`,
        `**${fmt(got)}** (${runs(samples)})`,
        `${fmt(issueBound(hasher, ranges, c.cap))} / ${fmt(storeBound(hasher, ranges, c.cap))}`,
        `**${fmt(byIssue, 2)}** / **${fmt(byStore, 2)}**`,
        `≥ ${RANGE_GOAL} ${verdict(byStore >= RANGE_GOAL)}${storeLimited ? ' (the store, not the cap, bounds it here)' : ''}`,
      ])
    }
  }
  const latencyNotes = caps.map((c) => {
    const transfer = config.hashRangeBytes / MiB / c.cap
    return `The hash-wasm runs' reader used ${fmt(c.wasmCpu * 100, 0)} % of a core at ${c.cap} MiB/s. At ${c.cap} MiB/s a ${config.hashRangeBytes / MiB} MiB range takes ${fmt(transfer * 1000, 0)} ms on its connection after a median ${fmt(c.latencyMs, 0)} ms from request to headers, so N connections can deliver at most ${fmt(transfer / (transfer + c.latencyMs / 1000), 2)} of N × cap (twice the range: ${fmt((2 * transfer) / (2 * transfer + c.latencyMs / 1000), 2)}).`
  })
  const rangesOk = goals.some(Boolean)
  const ok = rangesOk && overhead <= CHECKPOINT_GOAL && sniffRatio >= SNIFF_GOAL
  const body = [
    `${sizeMiB} MiB object; ranges of ${config.hashRangeBytes / MiB} MiB; checkpoint every ${config.hashCheckpointBytes / MiB} MiB. Medians of ${REPS} alternated runs (all runs listed).`,
    '',
    table(['in memory (' + memoryBytes / MiB + ' MiB)', 'node:crypto MiB/s', 'hash-wasm MiB/s', 'hash-wasm / node:crypto'], [
      [`${config.hashRangeBytes / MiB} MiB chunks (a range)`, `${fmt(nodeRate)} (${runs(memoryRates.node)})`, `**${fmt(wasmRate)}** (${runs(memoryRates.wasm)})`, fmt(wasmRate / nodeRate, 2)],
      [`${SOCKET_CHUNK / 1024} KiB chunks (a socket read)`, `${fmt(median(memoryRates.nodeSocket))} (${runs(memoryRates.nodeSocket)})`, `${fmt(median(memoryRates.wasmSocket))} (${runs(memoryRates.wasmSocket)})`, fmt(median(memoryRates.wasmSocket) / median(memoryRates.nodeSocket), 2)],
    ]),
    '',
    table(['store, no proxy (drain)', 'MiB/s'], [
      ['1 stream', `${fmt(storeOne)} (${runs(storeRates.one)})`],
      [`${ranges} ranges`, `${fmt(storeN)} (${runs(storeRates.n)})`],
      [`${ranges} ranges through the proxy, uncapped`, `${fmt(storeProxiedN)} (${runs(proxiedN)})`],
    ]),
    '',
    table(['through the throttling proxy', 'MiB/s', 'bound: issue / store', 'ratio: issue / store', 'goal'], rows),
    '',
    ...latencyNotes,
    '',
    table(['measure', 'figure', 'baseline', 'ratio', 'goal'], [
      [
        `hash-wasm in memory, checkpointed (${saves} saves: seal + guarded UPDATE)`,
        `**${fmt(overhead * 100, 2)} %** of hashing time spent saving (${shares.map((o) => fmt(o * 100, 2)).join(' / ')})`,
        `paired runs without checkpoints: ${pairedOverheads.map((o) => fmt(o * 100)).join(' / ')} % slower`,
        '-',
        `≤ ${CHECKPOINT_GOAL * 100} % ${verdict(overhead <= CHECKPOINT_GOAL)}`,
      ],
      ['type sniffing on, direct', `${fmt(median(sniffed))} MiB/s (${runs(sniffed)})`, `off ${fmt(median(plain))} (${runs(plain)})`, `**${fmt(sniffRatio, 2)}** (median of pairs)`, `≥ ${SNIFF_GOAL} ${verdict(sniffRatio >= SNIFF_GOAL)}`],
    ]),
    '',
    'The issue bound is min(in-memory rate of the hasher, N × cap); the store bound also caps it at what LocalStack',
    'delivers to N ranges (the better of direct and through the uncapped proxy) or one stream in this run. The proxy runs in a process of its own so that',
    'hashing on the reader\'s event loop cannot stall its forwarding; it paces each connection from its own send clock',
    '(up to 100 ms of catch-up, so timer lateness is not taken for the cap). The ranges goal is met when a cap\'s',
    'store-bound ratio reaches it. On a loaded 2-core machine the hasher, the proxy and LocalStack share the CPU.',
  ].join('\n')
  return { title: 'Hash stage: ranged reads, checkpoints, sniffing', body, ok }
}

/** A SYNCING file row whose guarded checkpoint UPDATE the overhead measurement runs, as the hash stage does. */
async function checkpointRow(db: Kysely<Database>, config: Config, size: number): Promise<FileRecord> {
  const id = randomUUID()
  await db
    .insertInto('files')
    .values({
      id,
      owner_id: 'bench-hash-stage',
      external_id: 'bench-hash-stage',
      filename: 'checkpoint.bin',
      content_type: 'application/octet-stream',
      object_key: `bench/checkpoint/${id}`,
      status: 'UPLOADED',
      file_size: size,
      upload_expires_at: new Date(),
    })
    .execute()
  const claim = await claimForSync(db, id, config.staleClaimSeconds)
  if (!claim) throw new Error('could not claim the checkpoint row')
  return claim
}
