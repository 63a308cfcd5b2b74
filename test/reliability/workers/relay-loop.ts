/**
 * A relay process: loops `relayOutbox` against the database and queue of its environment, as the
 * scheduled relay does. It prints `{"sent": [...]}` right after each SendMessageBatch returns (before
 * the rows are marked published), so a test can SIGKILL it inside that window.
 */
import { writeSync } from 'node:fs'
import { sql } from 'kysely'
import { loadConfig } from '../../../functions/core/config.js'
import { createDeps } from '../../../functions/core/deps.js'
import { FILE_UPLOADED, relayOutbox } from '../../../functions/core/outbox.js'
import type { MessageQueue } from '../../../functions/core/queue.js'

const say = (line: Record<string, unknown>) => writeSync(1, `${JSON.stringify(line)}\n`)
const deps = createDeps(loadConfig())
const queue: MessageQueue = {
  ping: () => deps.queue.ping(),
  async sendBatch(messages) {
    const result = await deps.queue.sendBatch(messages)
    say({ sent: messages.map((m) => m.id) })
    return result
  },
}
const batchSize = Number(process.env.RELAY_BATCH_SIZE ?? 20)
const exitWhenDrained = process.env.RELAY_EXIT_WHEN_DRAINED === '1'

await sql`select 1`.execute(deps.db)
say({ ready: true, pid: process.pid })
for (;;) {
  const result = await relayOutbox(deps.db, queue, { batchSize, maxRounds: 1 })
  say({ round: result })
  if (result.rounds === 0) {
    if (exitWhenDrained) {
      const row = await deps.db
        .selectFrom('outbox')
        .select(sql<string>`count(*)`.as('n'))
        .where('published_at', 'is', null)
        .where('event_type', '=', FILE_UPLOADED)
        .executeTakeFirstOrThrow()
      if (Number(row.n) === 0) break
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}
await deps.close()
say({ exit: 'drained' })
