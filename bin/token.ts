/** `npm run -s token -- <subject>`: prints a development bearer token for the local runtime. */
import { authOptionsFromEnv, signDevelopmentToken } from './local/auth.js'

const subject = process.argv[2]
if (!subject) {
  console.error('usage: npm run -s token -- <subject> [expires-in, e.g. 12h]')
  process.exit(2)
}
console.log(await signDevelopmentToken(authOptionsFromEnv(), subject, process.argv[3] ?? '12h'))
