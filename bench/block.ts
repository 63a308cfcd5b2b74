import { createCipheriv } from 'node:crypto'

/**
 * The repeating block the large benchmark objects are made of: AES-CTR keystream under a fixed key,
 * so it is incompressible, identical in every process, and costs nothing to regenerate.
 */
export function benchBlock(bytes: number): Buffer {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0))
  return Buffer.concat([cipher.update(Buffer.alloc(bytes)), cipher.final()])
}
