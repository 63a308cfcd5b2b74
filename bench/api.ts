/**
 * 3. API: requests/s and latency of presign, confirm and GET (cache hit and miss) under autocannon
 * against the local runtime, beside the runtime's own HTTP floor (an unknown route: no handler).
 */
import { createHash, randomUUID } from 'node:crypto'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import type { Kysely } from 'kysely'
import type { Database } from '../functions/core/database.js'
import { contentKey } from '../functions/core/cache.js'
import { objectKeyFor } from '../functions/core/rules.js'
import { csvFile } from './e2e.js'
import { fmt, mapConcurrent, ratio, table, type Section } from './stats.js'

export interface ApiOptions {
  url: string
  token: string
  owner: string
  db: Kysely<Database>
  s3: S3Client
  bucket: string
  quick: boolean
  log: (line: string) => void
}

const CONNECTIONS = 16

interface Load {
  rps: number
  p50: number
  p97_5: number
  p99: number
  max: number
  requests: number
  non2xx: number
  errors: number
}

type Request = { method: 'GET' | 'POST'; path: string; body?: string }

async function load(url: string, token: string, next: () => Request, limit: { duration: number } | { amount: number }): Promise<Load> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    ...limit,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (request: Record<string, unknown>) => {
          const r = next()
          return { ...request, method: r.method, path: r.path, ...(r.body === undefined ? {} : { body: r.body }) }
        },
      },
    ],
  })
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p97_5: result.latency.p97_5,
    p99: result.latency.p99,
    max: result.latency.max,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
  }
}

/** Files straight into the database and the bucket: `status` PENDING (to confirm) or SYNCED (to read). */
async function seedFiles(options: ApiOptions, n: number, status: 'PENDING' | 'SYNCED'): Promise<{ id: string; size: number }[]> {
  const { db, s3, bucket, owner } = options
  const files = Array.from({ length: n }, (_, i) => {
    const bytes = csvFile(200_000 + i)
    return { id: randomUUID(), bytes }
  })
  await mapConcurrent(files, 16, ({ id, bytes }) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: objectKeyFor(owner, id), Body: bytes, ContentType: 'text/csv' })),
  )
  for (let i = 0; i < files.length; i += 500) {
    await db
      .insertInto('files')
      .values(
        files.slice(i, i + 500).map(({ id, bytes }) => ({
          id,
          owner_id: owner,
          external_id: 'bench-api',
          filename: 'api.csv',
          content_type: 'text/csv',
          object_key: objectKeyFor(owner, id),
          declared_size: bytes.length,
          upload_expires_at: new Date(Date.now() + 3_600_000),
          status,
          ...(status === 'SYNCED'
            ? { file_size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), uploaded_at: new Date(), synced_at: new Date() }
            : {}),
        })),
      )
      .execute()
  }
  return files.map((f) => ({ id: f.id, size: f.bytes.length }))
}

const row = (name: string, l: Load, floor: Load, bold = false): string[] => {
  const b = (s: string) => (bold ? `**${s}**` : s)
  return [name, b(fmt(l.rps, 0)), fmt(l.p50, 0), fmt(l.p97_5, 0), b(fmt(l.p99, 0)), fmt(l.max, 0), String(l.requests), String(l.non2xx + l.errors), ratio(l.rps, floor.rps)]
}

export async function benchApi(options: ApiOptions): Promise<Section & { ok: boolean }> {
  const { url, token, quick, log } = options
  const duration = quick ? 5 : 10
  const reads = quick ? 600 : 2000
  const confirms = quick ? 600 : 2000

  const floor = await load(url, token, () => ({ method: 'GET', path: '/bench-no-such-route' }), { duration })
  log(`api: floor ${fmt(floor.rps, 0)} req/s`)

  const presign = await load(
    url,
    token,
    () => ({ method: 'POST', path: '/files/presigned-upload', body: JSON.stringify({ filename: 'api.csv', external_id: 'bench-api', content_type: 'text/csv', file_size: 1500 }) }),
    { duration },
  )
  log(`api: presign ${fmt(presign.rps, 0)} req/s p99 ${presign.p99} ms`)

  const pending = await seedFiles(options, confirms, 'PENDING')
  let c = 0
  const confirm = await load(
    url,
    token,
    () => {
      const f = pending[c++ % pending.length]!
      return { method: 'POST', path: '/files/confirm-uploads', body: JSON.stringify({ file_id: f.id, file_size: f.size }) }
    },
    { amount: pending.length },
  )
  log(`api: confirm ${fmt(confirm.rps, 0)} req/s p99 ${confirm.p99} ms`)

  const synced = await seedFiles(options, reads, 'SYNCED')
  const redis = new Redis(process.env.REDIS_URL!)
  await redis.del(...synced.map((f) => contentKey(f.id)))
  let m = 0
  // Every request a different file whose content is not cached: GetObject, then SET.
  const miss = await load(url, token, () => ({ method: 'GET', path: `/files/${synced[m++ % synced.length]!.id}` }), { amount: synced.length })
  const cachedAfterMiss = await redis.exists(...synced.map((f) => contentKey(f.id)))
  redis.disconnect()
  let h = 0
  const hit = await load(url, token, () => ({ method: 'GET', path: `/files/${synced[h++ % synced.length]!.id}` }), { duration })
  log(`api: GET miss ${fmt(miss.rps, 0)} req/s, hit ${fmt(hit.rps, 0)} req/s`)

  const body = [
    table(
      ['request', 'req/s', 'p50 (ms)', 'p97.5 (ms)', 'p99 (ms)', 'max (ms)', 'requests', 'non-2xx + errors', 'vs HTTP floor'],
      [
        row('(baseline) unknown route: HTTP floor of the runtime (404s, no handler)', floor, floor),
        row('POST /files/presigned-upload', presign, floor, true),
        row('POST /files/confirm-uploads (each a fresh upload)', confirm, floor, true),
        row('GET /files/{id}, cache miss (each a different uncached file)', miss, floor, true),
        row('GET /files/{id}, cache hit', hit, floor, true),
      ],
    ),
    '',
    `**Cache hit / miss: ${ratio(hit.rps, miss.rps)} the throughput, ${ratio(miss.p50, hit.p50)} lower p50 latency on a hit** ` +
      `(${cachedAfterMiss} of ${synced.length} files were cached by their miss).`,
    '',
    `autocannon 9, ${CONNECTIONS} connections with keep-alive, against the same separate runtime process as section 2 ` +
      `(JWT checked on every request). Presign and hit run for ${duration} s; confirm and miss run exactly once per seeded file ` +
      `(${confirms} PENDING uploads whose objects are in the bucket; ${reads} SYNCED 1-3 KB CSVs whose cache keys were deleted), ` +
      `so every confirm is a real PENDING -> UPLOADED with its outbox row and eager publish (the hash consumer runs meanwhile, ` +
      `as it would) and every miss reads storage. No goal is set for this section; autocannon latencies are whole milliseconds.`,
  ].join('\n')
  const ok = [presign, confirm, miss, hit].every((l) => l.non2xx + l.errors === 0)
  return { title: '3. API under load (autocannon)', body, ok }
}
