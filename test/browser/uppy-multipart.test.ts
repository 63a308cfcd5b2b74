import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { deps } from '../../functions/core/deps.js'
import { ApiClient, resetState, root, tokenFor } from '../fixtures/pipeline.js'
import { startPageRig, type PageRig } from './chromium.js'

// These files are past clamd's stream limit, where scanning would quarantine them NOT_SCANNED
// (test/integration/scanning/clamav-pipeline.test.ts). This file is about the upload protocol. Read before the first deps().
process.env.MALWARE_SCANNER = 'off'

const MiB = 1024 ** 2
let rig: PageRig
let dir: string
let token: string
let api: ApiClient
let script: string

/** Serves the bundled test page at /uppy-test/ on the runtime's own origin (the bucket's CORS allows it). */
const page = (partSize: number) => `<!doctype html><meta charset="utf-8"><title>uppy multipart</title>
<input type="file" id="file">
<script>window.uppyTest = { api: location.origin, token: ${JSON.stringify(token)}, partSize: ${partSize} }</script>
<script src="/uppy-test/page.js"></script>
<script>
  document.querySelector('#file').addEventListener('change', (e) => {
    for (const f of e.target.files) uppy.addFile({ name: f.name, type: f.type, data: f })
    uppy.upload()
  })
</script>`

async function serveTestPage(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (req.url === '/uppy-test/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(deps().config.multipartPartSize))
    return true
  }
  if (req.url === '/uppy-test/page.js') {
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script)
    return true
  }
  return false
}

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [join(root, 'test/browser/uppy/page.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
  })
  script = bundle.outputFiles[0]!.text
  token = await tokenFor(`uppy-${randomUUID()}`)
  rig = await startPageRig({ fallback: serveTestPage })
  api = new ApiClient(rig.runtime.url, token)
  dir = await mkdtemp(join(tmpdir(), 'uppy-multipart-'))
})
afterAll(async () => {
  await rig?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})
beforeEach(resetState)

const storedParts = async (fileId: string): Promise<number> => {
  const res = await api.request('GET', `/files/${fileId}/parts`)
  return res.status === 200 ? res.json.parts.length : 0
}

describe('Uppy 5 multipart against the parts routes, in Chromium', () => {
  it('uploads in parts, survives a page reload through Golden Retriever and resumes from the parts storage holds', async () => {
    const partSize = deps().config.multipartPartSize
    const bytes = randomBytes(6 * partSize - 7)
    const path = join(dir, 'big.bin')
    await writeFile(path, bytes)

    const tab = await rig.context.newPage()
    await tab.goto(`${rig.runtime.url}/uppy-test/`)
    await tab.setInputFiles('#file', path)
    // The upload id Golden Retriever saved is the file id; wait until storage holds a part, then reload mid-upload.
    const fileId = await tab.waitForFunction(() => (globalThis as any).uppy.getFiles()[0]?.s3Multipart?.uploadId, undefined, { timeout: 60_000 }).then((h) => h.jsonValue() as Promise<string>)
    for (const deadline = Date.now() + 60_000; (await storedParts(fileId)) < 1; ) {
      if (Date.now() > deadline) throw new Error('no part was stored before the reload')
      await new Promise((r) => setTimeout(r, 20))
    }
    await tab.reload()
    const before = await storedParts(fileId)
    expect(before).toBeLessThan(6)

    // Golden Retriever restores the file with its upload id; resuming lists the stored parts first.
    await tab.waitForFunction(() => (globalThis as any).uppy.getFiles().length === 1, undefined, { timeout: 30_000 })
    expect(await tab.evaluate(() => (globalThis as any).uppy.getFiles()[0].s3Multipart.uploadId)).toBe(fileId)
    // What the Dashboard's "resume" button does: Golden Retriever restarts the upload it recovered.
    await tab.evaluate(() => (globalThis as any).uppy.emit('restore-confirmed'))
    await tab.waitForFunction(() => (globalThis as any).uppyTest.done.length + (globalThis as any).uppyTest.errors.length > 0, undefined, { timeout: 90_000 })
    expect(await tab.evaluate(() => (globalThis as any).uppyTest.errors)).toEqual([])
    const signedAfterReload: number[] = await tab.evaluate(() => (globalThis as any).uppyTest.signed)
    expect(signedAfterReload.length).toBeLessThanOrEqual(6 - before)

    const synced = await api.waitForStatus(fileId, ['SYNCED', 'FAILED'], 60_000)
    expect(synced.json.file).toMatchObject({ status: 'SYNCED', sha256: createHash('sha256').update(bytes).digest('hex'), file_size: bytes.length })
    expect((await api.list({ external_id: 'uppy' })).json.files).toHaveLength(1)
    await tab.close()
  })
})
