import { describe, expect, it } from 'vitest'
import { backoffDelay, fetchWithRetry, HttpStatusError, isNetworkError, retry, retryAfterMs } from '../../client/src/retry.js'

describe('the client retry helper', () => {
  it('backs off with full jitter under a doubling ceiling, capped', () => {
    const top = { random: () => 0.999999, baseDelayMs: 100, maxDelayMs: 1_000 }
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, top))).toEqual([99, 199, 399, 799, 999, 999])
    expect(backoffDelay(3, { ...top, random: () => 0 })).toBe(0)
  })

  it('reads Retry-After as seconds or an HTTP date, only on 429 and 503', () => {
    const now = Date.parse('2026-12-01T12:00:00Z')
    expect(retryAfterMs(429, '3', now)).toBe(3_000)
    expect(retryAfterMs(503, 'Tue, 01 Dec 2026 12:00:07 GMT', now)).toBe(7_000)
    expect(retryAfterMs(500, '3', now)).toBeUndefined()
    expect(retryAfterMs(429, 'soon', now)).toBeUndefined()
  })

  it('tells network failures from aborts the caller asked for', () => {
    expect(isNetworkError(new TypeError('fetch failed'))).toBe(true)
    expect(isNetworkError(new DOMException('timed out', 'TimeoutError'))).toBe(true)
    expect(isNetworkError(new DOMException('aborted', 'AbortError'))).toBe(false)
    expect(isNetworkError(new Error('boom'))).toBe(false)
  })

  it('retries network errors and 5xx, but not other 4xx', async () => {
    let calls = 0
    const value = await retry(
      async () => {
        calls += 1
        if (calls === 1) throw new TypeError('fetch failed')
        if (calls === 2) throw new HttpStatusError(502, 'bad gateway')
        return 'ok'
      },
      { baseDelayMs: 1 },
    )
    expect([value, calls]).toEqual(['ok', 3])

    let refused = 0
    await expect(
      retry(
        async () => {
          refused += 1
          throw new HttpStatusError(403, 'denied')
        },
        { baseDelayMs: 1 },
      ),
    ).rejects.toMatchObject({ status: 403 })
    expect(refused).toBe(1)
  })

  it('waits as long as Retry-After asks on 429, and returns the last answer when retries run out', async () => {
    const waits: number[] = []
    const answers = [new Response('slow down', { status: 429, headers: { 'retry-after': '0.05' } }), new Response('{}', { status: 200 })]
    const response = await fetchWithRetry('http://api.invalid/x', () => ({}), {
      fetch: async () => answers.shift()!,
      random: () => 0,
      onRetry: ({ delayMs }) => waits.push(delayMs),
    })
    expect(response.status).toBe(200)
    expect(waits).toEqual([50])

    let calls = 0
    const last = await fetchWithRetry('http://api.invalid/x', () => ({}), {
      retries: 2,
      baseDelayMs: 1,
      fetch: async () => {
        calls += 1
        return new Response('down', { status: 503 })
      },
    })
    expect([last.status, await last.text(), calls]).toEqual([503, 'down', 3])
  })
})
