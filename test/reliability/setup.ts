import { applyReliabilityEnvironment } from './support/env.js'

if (!process.env.RELIABILITY_RUN_ID) throw new Error('RELIABILITY_RUN_ID is unset: the reliability global setup did not run')
applyReliabilityEnvironment()
