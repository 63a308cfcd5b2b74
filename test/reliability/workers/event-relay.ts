/**
 * The scheduled relay as a process: invokes the shipped RelayOutbox handler (functions/relay-outbox.ts: outbox ->
 * EventBridge and webhook deliveries, then the webhook dispatch) in a loop, against the services of its
 * environment, so a scenario can SIGKILL it at any point of a run.
 */
import { writeSync } from 'node:fs'
import { lambdaContext } from '../../../bin/local/events.js'
import { scheduledTasks } from '../../../lib/routes.js'
import { functionSettings } from '../../../lib/settings.js'

const say = (line: Record<string, unknown>) => writeSync(1, `${JSON.stringify(line)}\n`)
const task = scheduledTasks.find((t) => t.id === 'RelayOutbox')!
const { handler } = await import('../../../functions/relay-outbox.js')
const { deps } = await import('../../../functions/core/deps.js')

// Warm, as a relay that has run before: its clients are loaded and connected when it is killed.
await deps().db.selectFrom('outbox').select('id').limit(1).execute()
await deps().bus!.put([])
await deps().queue.ping()
say({ ready: true, pid: process.pid })
for (;;) {
  const result = (await handler({ source: 'reliability', id: task.id }, lambdaContext(task.id, functionSettings(task)))) as Record<string, unknown>
  say({ round: result })
  await new Promise((r) => setTimeout(r, 20))
}
