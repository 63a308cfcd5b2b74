import { applyBrowserEnvironment } from './env.js'

applyBrowserEnvironment()
