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
 * An upload's progress on stderr: a bar redrawn in place on a terminal; on a pipe or a log, one
 * line per quarter, so the log stays readable.
 */
export class ProgressBar {
  private lastDraw = 0
  private lastQuarter = -1
  private finished = false

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
    if (this.out.isTTY) {
      const now = Date.now()
      if (!force && now - this.lastDraw < 100 && fraction < 1) return
      this.lastDraw = now
      const width = 24
      const filled = Math.round(fraction * width)
      this.out.write(
        `\r${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(percent).padStart(3)}% ` +
          `${formatBytes(done)}/${formatBytes(this.total)}\x1b[K`,
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
      this.out.write(`${this.label}: ${this.verb} ${quarter * 25}% of ${formatBytes(this.total)}\n`)
    }
  }
}
