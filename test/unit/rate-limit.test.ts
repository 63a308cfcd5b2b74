import { describe, expect, it } from 'vitest'
import { slidingWindow } from '../../functions/core/cache.js'

const window = { limit: 10, windowSeconds: 60 }

describe('the sliding-window rate limit', () => {
  it('allows up to the limit within one window', () => {
    expect(slidingWindow({ ...window, count: 9, previous: 0, elapsed: 0.5 })).toEqual({ allowed: true, retryAfterSeconds: 0 })
    expect(slidingWindow({ ...window, count: 10, previous: 0, elapsed: 0.5 }).allowed).toBe(false)
  })

  it('charges a batch its number of files', () => {
    expect(slidingWindow({ ...window, count: 4, cost: 6, previous: 0, elapsed: 0.5 }).allowed).toBe(true)
    expect(slidingWindow({ ...window, count: 4, cost: 7, previous: 0, elapsed: 0.5 }).allowed).toBe(false)
  })

  it('lets a batch larger than the whole limit through only into an empty window', () => {
    expect(slidingWindow({ ...window, count: 0, cost: 100, previous: 0, elapsed: 0.5 }).allowed).toBe(true)
    expect(slidingWindow({ ...window, count: 1, cost: 100, previous: 0, elapsed: 0.5 }).allowed).toBe(false)
  })

  it('does not let a full window more through just after a boundary', () => {
    // Ten requests at the end of the last window, then a burst at the start of this one.
    expect(slidingWindow({ ...window, count: 0, previous: 10, elapsed: 0.05 }).allowed).toBe(false)
    expect(slidingWindow({ ...window, count: 4, previous: 10, elapsed: 0.5 }).allowed).toBe(true)
  })

  it('says to wait until the previous window has decayed enough, when that comes first', () => {
    // 10 * (1 - 0.1) + 1 + 1 = 11 > 10; it fits once 10 * (1 - e) + 2 <= 10, i.e. e >= 0.2: 6 s from now.
    expect(slidingWindow({ ...window, count: 1, previous: 10, elapsed: 0.1 })).toEqual({ allowed: false, retryAfterSeconds: 6 })
  })

  it('says to wait into the next window when this one alone is too full for the charge', () => {
    // 10 in this window and 5 more asked: in the next, 10 * (1 - f) + 5 <= 10 needs f >= 0.5; 30 s left here + 30 s there.
    expect(slidingWindow({ ...window, count: 10, cost: 5, previous: 0, elapsed: 0.5 })).toEqual({ allowed: false, retryAfterSeconds: 60 })
  })
})
