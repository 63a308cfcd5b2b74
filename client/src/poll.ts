import { sleep } from './retry.js'

export interface PollOptions {
  /** Give up after this long (default 300 s). */
  timeoutMs?: number
  /** The first wait (default 100 ms); it doubles up to `maxIntervalMs` (default 2 s). */
  initialIntervalMs?: number
  maxIntervalMs?: number
  signal?: AbortSignal
}

/**
 * Reads until `done` accepts what was read, waiting a little longer each time: a file that settles at once is seen
 * at once, and one that takes minutes is not asked about every 100 ms. Past the deadline, `timedOut(last)` is thrown.
 */
export async function poll<T>(read: () => Promise<T>, done: (value: T) => boolean, options: PollOptions & { timedOut: (last: T) => Error }): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 300_000
  const deadline = Date.now() + timeoutMs
  let delay = options.initialIntervalMs ?? 100
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() + delay > deadline) throw options.timedOut(value)
    await sleep(delay, options.signal)
    delay = Math.min(delay * 2, options.maxIntervalMs ?? 2_000)
  }
}
