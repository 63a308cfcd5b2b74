import { describe, expect, it } from 'vitest'
import { canTransition, TRANSITIONS, type FileStatus } from '../../functions/core/files.js'

const statuses = Object.keys(TRANSITIONS) as FileStatus[]

describe('the file state machine', () => {
  it('walks the happy path PENDING -> UPLOADED -> SYNCING -> SYNCED', () => {
    expect(canTransition('PENDING', 'UPLOADED')).toBe(true)
    expect(canTransition('UPLOADED', 'SYNCING')).toBe(true)
    expect(canTransition('SYNCING', 'SYNCED')).toBe(true)
  })

  it('treats SYNCED and EXPIRED as final', () => {
    for (const to of statuses) {
      expect(canTransition('SYNCED', to)).toBe(false)
      expect(canTransition('EXPIRED', to)).toBe(false)
    }
  })

  it('never goes back to PENDING', () => {
    for (const from of statuses) expect(canTransition(from, 'PENDING')).toBe(false)
  })

  it('only expires files that were never confirmed', () => {
    expect(statuses.filter((from) => canTransition(from, 'EXPIRED'))).toEqual(['PENDING'])
  })
})
