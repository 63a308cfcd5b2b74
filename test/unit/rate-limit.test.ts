import { describe, expect, it } from 'vitest'
import { slidingWindow } from '../../functions/core/cache.js'

const window = { limit: 10, windowSeconds: 60 }

describe('the sliding-window rate limit', () => {
  it('allows up to the limit within one window', () => {
    expect(slidingWindow({ ...window, count: 10, previous: 0, elapsed: 0.5 })).toEqual({ allowed: true, retryAfterSeconds: 0 })
    expect(slidingWindow({ ...window, count: 11, previous: 0, elapsed: 0.5 }).allowed).toBe(false)
  })

  it('does not let a full window more through just after a boundary', () => {
    // Ten requests at the end of the last window, then a burst at the start of this one.
    expect(slidingWindow({ ...window, count: 1, previous: 10, elapsed: 0.05 }).allowed).toBe(false)
    expect(slidingWindow({ ...window, count: 5, previous: 10, elapsed: 0.5 }).allowed).toBe(true)
  })

  it('says to wait until the previous window has decayed enough, when that comes first', () => {
    // 10 * (1 - 0.1) + 2 = 11 > 10; one more fits once 10 * (1 - e) + 2 <= 9, i.e. e >= 0.3: 12 s from now.
    expect(slidingWindow({ ...window, count: 2, previous: 10, elapsed: 0.1 })).toEqual({ allowed: false, retryAfterSeconds: 12 })
  })

  it('says to wait into the next window when this one alone is over the limit', () => {
    // 20 in this window: in the next, 20 * (1 - f) <= 9 needs f >= 0.55; 30 s left here + 33 s there.
    expect(slidingWindow({ ...window, count: 20, previous: 0, elapsed: 0.5 })).toEqual({ allowed: false, retryAfterSeconds: 63 })
  })
})
