/** Small helpers for turning samples into the figures the report prints. */

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export interface Summary {
  n: number
  p50: number
  p95: number
  p99: number
  max: number
  mean: number
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b)
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mean,
  }
}

export const MiB = 1024 ** 2

export const fmt = (value: number, digits = 1): string =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a'

export const ratio = (value: number, baseline: number): string => (baseline > 0 ? `${fmt(value / baseline, 2)}x` : 'n/a')

export const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met')

export { mapConcurrent } from '../functions/core/concurrency.js'

/** A markdown table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

export interface Section {
  title: string
  /** Markdown body: tables and notes. */
  body: string
}
