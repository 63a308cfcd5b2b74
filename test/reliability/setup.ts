import { applyReliabilityEnvironment } from './support/env.js'

applyReliabilityEnvironment()
