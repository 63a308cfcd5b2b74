// The part of autocannon 9's API the API benchmark uses (the package ships no types).
declare module 'autocannon' {
  interface Histogram {
    average: number
    p50: number
    p97_5: number
    p99: number
    max: number
    total: number
  }
  interface Options {
    url: string
    connections?: number
    duration?: number
    amount?: number
    headers?: Record<string, string>
    requests?: { setupRequest?: (request: Record<string, unknown>) => Record<string, unknown> }[]
  }
  interface Result {
    requests: Histogram
    latency: Histogram
    non2xx: number
    errors: number
  }
  export default function autocannon(options: Options): Promise<Result>
}
