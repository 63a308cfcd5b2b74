import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'

/** What a later run needs to carry on with a multipart upload of the same file. */
export interface ResumeState {
  path: string
  size: number
  mtimeMs: number
  api: string
  fileId: string
}

/** `$UPLOAD_CACHE_DIR`, else the XDG cache folder: `~/.cache/upload-pipeline/uploads`. */
export function resumeDir(env: NodeJS.ProcessEnv): string {
  if (env.UPLOAD_CACHE_DIR) return env.UPLOAD_CACHE_DIR
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'upload-pipeline', 'uploads')
}

/**
 * Resume state, one small JSON file per local file, named by a hash of its absolute path and the API; the state
 * names the size and mtime it was made for, so a file that changed since starts over instead of resuming.
 */
export class ResumeStore {
  constructor(private readonly dir: string) {}

  private fileFor(path: string, api: string): string {
    return join(this.dir, `${createHash('sha256').update(`${api}\n${path}`).digest('hex').slice(0, 32)}.json`)
  }

  /** The state for this exact file (path, size and mtime) on this API, if a previous run left one. */
  async load(path: string, size: number, mtimeMs: number, api: string): Promise<ResumeState | undefined> {
    let state: ResumeState
    try {
      state = JSON.parse(await readFile(this.fileFor(path, api), 'utf8')) as ResumeState
    } catch {
      return undefined
    }
    if (state.path !== path || state.size !== size || state.mtimeMs !== mtimeMs || state.api !== api) {
      await this.remove(path, api)
      return undefined
    }
    return state
  }

  /** Written before the first part is sent, atomically, so a kill at any moment leaves either no state or a whole one. */
  async save(state: ResumeState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const target = this.fileFor(state.path, state.api)
    const temporary = `${target}.${process.pid}.tmp`
    await writeFile(temporary, JSON.stringify(state), { mode: 0o600 })
    await rename(temporary, target)
  }

  async remove(path: string, api: string): Promise<void> {
    await rm(this.fileFor(path, api), { force: true })
  }
}
