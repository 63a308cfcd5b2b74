import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { S3_MAX_OBJECT_SIZE, S3_MAX_PART_SIZE, S3_MAX_PARTS, S3_MIN_PART_SIZE } from '../../functions/core/aws-limits.js'
import { incompleteParts } from '../../functions/core/parts.js'
import { multipartPlan, partLength } from '../../functions/core/rules.js'

const MiB = 1024 ** 2
const GiB = 1024 ** 3

describe('the multipart plan', () => {
  it('uses the preferred part size while the file fits in 10,000 parts', () => {
    expect(multipartPlan(20 * MiB, 8 * MiB)).toEqual({ partSize: 8 * MiB, partCount: 3 })
    expect(multipartPlan(1, 8 * MiB)).toEqual({ partSize: 8 * MiB, partCount: 1 })
  })

  it('answers a 6 GiB file with at most 10,000 parts', () => {
    const plan = multipartPlan(6 * GiB, 8 * MiB)
    expect(plan).toEqual({ partSize: 8 * MiB, partCount: 768 })
  })

  it("grows the part to a whole number of MiB when the preferred size would need too many parts", () => {
    expect(multipartPlan(100 * GiB, 5 * MiB)).toEqual({ partSize: 11 * MiB, partCount: 9_310 })
    expect(multipartPlan(S3_MAX_OBJECT_SIZE, 8 * MiB)).toEqual({ partSize: S3_MAX_PART_SIZE, partCount: S3_MAX_PARTS })
  })

  it('keeps every part but the last within S3 limits and the parts summing to the file, for any size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: S3_MAX_OBJECT_SIZE }), fc.integer({ min: S3_MIN_PART_SIZE, max: 64 * MiB }), (size, preferred) => {
        const plan = multipartPlan(size, preferred)
        expect(plan.partCount).toBeLessThanOrEqual(S3_MAX_PARTS)
        expect(plan.partSize).toBeGreaterThanOrEqual(S3_MIN_PART_SIZE)
        expect(plan.partSize).toBeLessThanOrEqual(S3_MAX_PART_SIZE)
        const last = partLength(plan, size, plan.partCount)
        expect(last).toBeGreaterThan(0)
        expect(last).toBeLessThanOrEqual(plan.partSize)
        expect((plan.partCount - 1) * plan.partSize + last).toBe(size)
      }),
    )
  })

  it('names the missing and wrong-sized parts of an upload', () => {
    const plan = { partSize: 8 * MiB, partCount: 4 }
    const size = 3 * 8 * MiB + 10
    const stored = [
      { partNumber: 1, size: 8 * MiB, etag: 'a' },
      { partNumber: 3, size: 8 * MiB - 1, etag: 'c' },
      { partNumber: 4, size: 10, etag: 'd' },
      // Beyond the plan: ignored, never assembled.
      { partNumber: 5, size: 1, etag: 'e' },
    ]
    expect(incompleteParts(plan, size, stored)).toEqual({ missing: [2], wrong_size: [3] })
    expect(incompleteParts(plan, size, [...stored, { partNumber: 2, size: 8 * MiB, etag: 'b' }].map((p) => (p.partNumber === 3 ? { ...p, size: 8 * MiB } : p)))).toEqual({
      missing: [],
      wrong_size: [],
    })
  })
})
