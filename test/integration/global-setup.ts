import { applyTestEnvironment } from '../fixtures/env.js'
import { freshTestResources } from '../fixtures/resources.js'

export default async function setup(): Promise<void> {
  applyTestEnvironment()
  await freshTestResources()
}
