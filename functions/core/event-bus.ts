import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge'
import { EVENT_SOURCE } from '../../lib/settings.js'
import type { Config } from './config.js'
import type { FileEvent } from './events.js'

/** PutEvents takes at most 10 entries (docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html). */
export const PUT_EVENTS_MAX_ENTRIES = 10
export { EVENT_SOURCE }

/** What the relay needs from EventBridge. */
export interface EventBus {
  /** Puts up to 10 events; returns the ids EventBridge did not accept (partial failures are per entry). */
  put(events: readonly FileEvent[]): Promise<{ failed: { id: string; reason: string }[] }>
}

export function createEventBridgeClient(config: Config): EventBridgeClient {
  return new EventBridgeClient({ region: config.region, ...(config.awsEndpointUrl ? { endpoint: config.awsEndpointUrl } : {}), maxAttempts: 3 })
}

export function createEventBus(client: EventBridgeClient, busName: string): EventBus {
  return {
    async put(events) {
      if (events.length === 0) return { failed: [] }
      if (events.length > PUT_EVENTS_MAX_ENTRIES) throw new RangeError(`at most ${PUT_EVENTS_MAX_ENTRIES} events per call`)
      const result = await client.send(
        new PutEventsCommand({
          Entries: events.map((event) => ({
            EventBusName: busName,
            Source: EVENT_SOURCE,
            DetailType: event.type,
            Detail: JSON.stringify(event),
            Time: new Date(event.timestamp),
          })),
        }),
      )
      // Entries come back in request order; a failed one has an ErrorCode instead of an EventId.
      const failed: { id: string; reason: string }[] = []
      events.forEach((event, i) => {
        const entry = result.Entries?.[i]
        if (!entry || entry.ErrorCode) failed.push({ id: event.id, reason: `${entry?.ErrorCode ?? 'missing entry'}: ${entry?.ErrorMessage ?? ''}` })
      })
      return { failed }
    },
  }
}
