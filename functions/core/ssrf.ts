import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'

/**
 * Whether a webhook may be sent to `address`. Only ipaddr.js's `unicast` range passes: that
 * refuses loopback, private, link-local (169.254.169.254, the cloud metadata address, included),
 * CGNAT, multicast, unspecified, reserved and unique-local IPv6 (fd00:ec2::254), and IPv4-mapped
 * IPv6 is judged as the IPv4 address it maps.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false
  return ipaddr.process(address).range() === 'unicast'
}

/** Why a webhook URL is refused; undefined when its form is acceptable (its host still has to resolve publicly). */
export function webhookUrlProblem(raw: string): string | undefined {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return 'must be an absolute URL'
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be http or https'
  if (url.username || url.password) return 'must not contain credentials'
  if (!url.hostname) return 'must name a host'
  return undefined
}

/** The URL's host without IPv6 brackets. The WHATWG parser has already turned decimal and hex IPv4 forms into dotted quads. */
export const hostOf = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '')

export class BlockedAddressError extends Error {
  override readonly name = 'BlockedAddressError'
  readonly code = 'EBLOCKEDADDRESS'
}

/**
 * A `lookup` for node:http(s) requests that resolves every address of the host and refuses the
 * connection when any of them is not public. The socket then connects to an address this function
 * checked, so a name that re-resolves to 127.0.0.1 between registration and delivery (DNS
 * rebinding) is refused at connect time.
 */
export function publicOnlyLookup(allowPrivate: boolean) {
  return (
    hostname: string,
    options: LookupOptions,
    callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '')
      const blocked = addresses.find((a) => !allowPrivate && !isPublicAddress(a.address))
      if (blocked) return callback(new BlockedAddressError(`${hostname} resolves to ${blocked.address}, which is not a public address`), '')
      if (options.all) return callback(null, addresses)
      const first = addresses[0]
      if (!first) return callback(new BlockedAddressError(`${hostname} has no address`), '')
      callback(null, first.address, first.family)
    })
  }
}

/** Every address `host` resolves to (itself when it is an IP literal). */
export async function resolveAll(host: string): Promise<string[]> {
  if (isIP(host)) return [host]
  const { lookup } = await import('node:dns/promises')
  return (await lookup(host, { all: true })).map((a) => a.address)
}
