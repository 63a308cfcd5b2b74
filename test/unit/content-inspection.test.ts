import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { FileRecord } from '../../functions/core/files.js'
import { type ContentInspector, InspectionRun, OK } from '../../functions/core/inspection.js'
import { contentTypeVerdict } from '../../functions/core/rules.js'
import { sniffContentType } from '../../functions/core/sniff.js'
import { samples } from '../fixtures/samples.js'

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'

describe('contentTypeVerdict', () => {
  it.each([
    ['image/png', 'image/png'],
    ['application/zip', 'application/zip'],
    [DOCX, 'application/zip'],
    ['application/zip', DOCX],
    ['application/gzip', 'application/gzip'],
    ['application/octet-stream', 'image/png'],
    ['application/octet-stream', undefined],
    ['text/csv', undefined],
    ['application/json', undefined],
    ['text/plain', 'application/xml'],
  ] as const)('accepts %s whose bytes sniff as %s', (declared, sniffed) => {
    expect(contentTypeVerdict(declared, sniffed)).toEqual(OK)
  })

  it.each([
    ['text/csv', 'image/png'],
    ['application/json', 'application/zip'],
    ['image/png', 'image/jpeg'],
    ['image/png', undefined],
    ['application/pdf', 'application/zip'],
    [DOCX, 'application/pdf'],
  ] as const)('refuses %s whose bytes sniff as %s with TYPE_MISMATCH', (declared, sniffed) => {
    expect(contentTypeVerdict(declared, sniffed)).toMatchObject({ kind: 'fail', code: 'TYPE_MISMATCH' })
  })
})

const fileDeclaring = (contentType: string) => ({ contentType }) as FileRecord

async function sniff(contentType: string, bytes: Buffer, chunkSize = 7) {
  const run = new InspectionRun([sniffContentType(fileDeclaring(contentType))!])
  for (let at = 0; at < bytes.length; at += chunkSize) {
    const verdict = await run.update(bytes.subarray(at, at + chunkSize))
    if (verdict.kind !== 'ok') return verdict
  }
  return run.end()
}

describe('the type sniffer on real bytes', () => {
  it.each([
    ['image/png', samples.png],
    ['application/zip', samples.zip],
    [DOCX, samples.zip],
    ['application/gzip', samples.gzip],
    ['application/pdf', samples.pdf],
    ['text/csv', samples.csv],
    ['application/json', samples.json],
  ] as const)('passes %s declared for its own bytes', async (declared, bytes) => {
    expect(await sniff(declared, bytes)).toEqual(OK)
  })

  it('fails PNG bytes declared text/csv, and random bytes declared image/png', async () => {
    expect(await sniff('text/csv', samples.png)).toEqual({ kind: 'fail', code: 'TYPE_MISMATCH', message: 'declared text/csv, but the bytes are image/png' })
    expect(await sniff('image/png', randomBytes(5000))).toMatchObject({ kind: 'fail', code: 'TYPE_MISMATCH' })
  })

  it('decides on the first bytes of a large object, before the read ends', async () => {
    const run = new InspectionRun([sniffContentType(fileDeclaring('text/csv'))!])
    expect(await run.update(Buffer.concat([samples.png, Buffer.alloc(10_000)]))).toMatchObject({ kind: 'fail' })
    expect(run.busy).toBe(false)
  })
})

describe('InspectionRun', () => {
  const recorder = (wantsBytes: number, verdict = OK) => {
    const seen: number[] = []
    let finished = 0
    const inspector: ContentInspector = {
      name: 'recorder',
      wantsBytes,
      update: (chunk) => void seen.push(chunk.length),
      finish: async () => {
        finished += 1
        return verdict
      },
    }
    return { inspector, seen, finished: () => finished }
  }

  it('gives each inspector no more than it wants and finishes it once', async () => {
    const short = recorder(5)
    const whole = recorder(Number.POSITIVE_INFINITY)
    const run = new InspectionRun([short.inspector, whole.inspector])
    await run.update(Buffer.alloc(3))
    await run.update(Buffer.alloc(4))
    expect(run.busy).toBe(true)
    await run.update(Buffer.alloc(4))
    expect(await run.end()).toEqual(OK)
    expect(short.seen).toEqual([3, 2])
    expect(whole.seen).toEqual([3, 4, 4])
    expect([short.finished(), whole.finished()]).toEqual([1, 1])
    expect(run.busy).toBe(false)
  })

  it('returns the first verdict that is not ok', async () => {
    const failing = recorder(2, { kind: 'retry-later', reason: 'scanner down' })
    const run = new InspectionRun([recorder(1).inspector, failing.inspector])
    expect(await run.update(Buffer.alloc(2))).toEqual({ kind: 'retry-later', reason: 'scanner down' })
  })
})
