/**
 * Builds the upload page into a folder of static files: `app.js` (the page's TypeScript and Uppy, bundled from
 * node_modules), `app.css` (Uppy's styles and ours) and `index.html`. No CDN at run time: everything the page loads
 * comes from this folder, `/config.json` and the API. The local runtime serves the folder (bin/local/web.ts); the
 * static-site deployment uploads it with a `config.json` naming the API's base URL.
 *
 * `tsx web/build.ts [outDir]` builds into `outDir` (default `web/dist`).
 */
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSync } from 'esbuild'

const webDir = dirname(fileURLToPath(import.meta.url))

/** The page's own static files, copied as they are. */
export const STATIC_FILES = ['index.html'] as const

/** Where `npm start` and the tests build the page, relative to the repository root (gitignored). */
export const SITE_DIR = 'web/dist'

/** Writes through a temporary name, so a reader (or a second build running at once) never sees half a file. */
function writeAtomically(path: string, contents: Uint8Array | string): void {
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, contents)
  renameSync(temporary, path)
}

/** Builds the page into `outDir` (created if missing). Synchronous, so a CDK app can call it while synthesizing. */
export function buildSiteSync(outDir: string): void {
  mkdirSync(outDir, { recursive: true })
  const result = buildSync({
    // main.ts imports style.css (which imports Uppy's), so esbuild writes app.css beside app.js.
    entryPoints: { app: join(webDir, 'src/main.ts') },
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // Browsers of the last few years: top-level await, private fields, AbortSignal.any need no polyfill.
    target: ['chrome120', 'firefox121', 'safari17'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    write: false,
    logLevel: 'silent',
  })
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents)
  for (const name of STATIC_FILES) {
    const temporary = join(outDir, `${name}.${process.pid}.tmp`)
    copyFileSync(join(webDir, name), temporary)
    renameSync(temporary, join(outDir, name))
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = resolve(process.argv[2] ?? join(webDir, '..', SITE_DIR))
  buildSiteSync(outDir)
  console.log(`web: built the page into ${outDir}`)
}
