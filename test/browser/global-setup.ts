import { freshTestResources } from '../fixtures/resources.js'
import { applyBrowserEnvironment } from './env.js'

/** The browser tier's own database, bucket and queues, so integration runs cannot reset them mid-test. */
export default async function setup(): Promise<void> {
  applyBrowserEnvironment()
  await freshTestResources()
}
