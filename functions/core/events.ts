import { randomUUID } from 'node:crypto'
import { type FileRecord, type FileView, toFileView } from './files.js'

/** The final transitions a file can make, each announced by exactly one event. */
export const FILE_EVENT_TYPES = ['file.synced', 'file.failed', 'file.quarantined', 'file.expired', 'file.deleted'] as const
export type FileEventType = (typeof FILE_EVENT_TYPES)[number]

/** An event as the outbox stores it and EventBridge and webhooks carry it (DESIGN.md "Events"). */
export interface FileEvent {
  id: string
  type: FileEventType
  timestamp: string
  data: { file: FileView }
}

export const isFileEventType = (type: string): type is FileEventType => (FILE_EVENT_TYPES as readonly string[]).includes(type)

/**
 * The event for `file`'s move to its current state, stamped with the time of that move. A fresh id
 * per transition: every retry of its delivery keeps it (webhook-id), so receivers deduplicate on it.
 */
export function fileEvent(type: FileEventType, file: FileRecord): FileEvent {
  return { id: `evt_${randomUUID()}`, type, timestamp: file.updatedAt.toISOString(), data: { file: toFileView(file) } }
}
