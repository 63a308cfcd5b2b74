import { applyTestEnvironment } from '../fixtures/env.js'

applyTestEnvironment()
