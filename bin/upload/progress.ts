const units = ['B', 'KB', 'MB', 'GB', 'TB']

export function formatBytes(n: number): string {
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i += 1
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`
}

/**
 * An upload's progress on stderr, with its rate and the time left: a bar redrawn in place on a terminal; on a pipe or a log, one
 * line per quarter, so the log stays readable.
 */
function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0')
  const ss = String(s % 60).padStart(2, '0')
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`
}

export class ProgressBar {
  private lastDraw = 0
  private lastQuarter = -1
  private finished = false
  /** The first update's bytes and time: bytes a resumed upload already had do not count towards the rate. */
  private baseline: { done: number; at: number } | undefined

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly label: string,
    private readonly total: number,
    private readonly enabled: boolean,
    /** What the bar counts, for the lines written to a pipe. */
    private readonly verb = 'uploaded',
  ) {}

  update(done: number, force = false): void {
    if (!this.enabled || this.finished) return
    const fraction = this.total === 0 ? 1 : Math.min(1, done / this.total)
    const percent = Math.floor(fraction * 100)
    const now = Date.now()
    this.baseline ??= { done, at: now }
    const seconds = (now - this.baseline.at) / 1000
    const rate = seconds > 0 ? (done - this.baseline.done) / seconds : 0
    const speed = rate > 0 ? ` ${formatBytes(Math.round(rate))}/s` : ''
    const eta = rate > 0 && fraction < 1 ? ` ETA ${formatDuration((this.total - done) / rate)}` : ''
    if (this.out.isTTY) {
      if (!force && now - this.lastDraw < 100 && fraction < 1) return
      this.lastDraw = now
      const width = 24
      const filled = Math.round(fraction * width)
      this.out.write(
        `\r${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(percent).padStart(3)}% ` +
          `${formatBytes(done)}/${formatBytes(this.total)}${speed}${eta}\x1b[K`,
      )
      if (fraction === 1) {
        this.finished = true
        this.out.write('\n')
      }
      return
    }
    const quarter = Math.floor(percent / 25)
    if (quarter > this.lastQuarter) {
      this.lastQuarter = quarter
      this.out.write(`${this.label}: ${this.verb} ${quarter * 25}% of ${formatBytes(this.total)}${speed}${eta}\n`)
    }
  }
}
