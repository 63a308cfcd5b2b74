import { setMaxListeners } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs'
import type { APIGatewayProxyStructuredResultV2, Context, SQSBatchResponse, SQSEvent } from 'aws-lambda'
import { queueConsumers, routes, scheduledTasks, type QueueName, type Route } from '../../lib/routes.js'
import { type FunctionSettings, functionSettings, localScheduleIntervalMs, queues as queueTable } from '../../lib/settings.js'
import type { Verifier } from './auth.js'
import { httpApiEvent, lambdaContext, splitTarget, sqsRecord } from './events.js'

type Handler<E = unknown, R = unknown> = (event: E, context: Context) => Promise<R>

export interface LocalRuntimeOptions {
  /** Repository root; route entries are resolved against it. */
  root: string
  port: number
  host?: string
  /** Each consumer's queue; by default the queues the environment's URL variables name (`lib/settings.ts`). */
  queues?: Partial<Record<QueueName, LocalQueue>>
  sqs: SQSClient
  verify: Verifier
  /** Concurrent pollers per consumer, like an event source mapping's pollers (default 4; 0 consumes nothing). */
  pollers?: number
  /** Invocations of one consumer in flight at once (default: its maxConcurrency in lib/routes.ts). */
  maxConcurrency?: number
  /** Long-poll wait; `close()` lets polls in flight finish, so this bounds it (default 5 s). */
  waitTimeSeconds?: number
  /**
   * Milliseconds between runs of a scheduled task, by task id; 0 disables it. Default: its `everySeconds`
   * sped up by `LOCAL_SCHEDULE_SPEEDUP` (lib/settings.ts).
   */
  schedules?: Partial<Record<ScheduledTaskId, number>>
  /** Requests the route table does not know (the upload page, OpenAPI); return true when handled. */
  fallback?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean> | boolean
  log?: (message: string, fields?: Record<string, unknown>) => void
}

export interface LocalQueue {
  url: string
  arn: string
}

type ScheduledTaskId = (typeof scheduledTasks)[number]['id']

/** The ARN LocalStack gives a queue URL of the path strategy (`/queue/<region>/<account>/<name>`). */
export function queueArnOf(queueUrl: string): string {
  const [region, account, name] = new URL(queueUrl).pathname.split('/').slice(2)
  return `arn:aws:sqs:${region}:${account}:${name}`
}

/** The queues the environment's URL variables name. */
export function queuesFromEnvironment(env: NodeJS.ProcessEnv = process.env): Partial<Record<QueueName, LocalQueue>> {
  return Object.fromEntries(
    queueTable.flatMap((q) => {
      const url = env[q.urlVariable]
      return url ? [[q.name, { url, arn: queueArnOf(url) }]] : []
    }),
  )
}

export interface LocalRuntime {
  url: string
  server: Server
  close(): Promise<void>
}

/** API Gateway's payload limit. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024

interface CompiledRoute {
  route: Route
  pattern: RegExp
  params: string[]
}

function compile(route: Route): CompiledRoute {
  const params: string[] = []
  const source = route.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, name: string) => {
    params.push(name)
    return '([^/]+)'
  })
  return { route, pattern: new RegExp(`^${source}$`), params }
}

/** Static paths win over dynamic ones, as in API Gateway and middy's router. */
export const compiledRoutes: CompiledRoute[] = [...routes]
  .map(compile)
  .sort((a, b) => Number(a.params.length > 0) - Number(b.params.length > 0))

export function matchRoute(method: string, path: string): { route: Route; params: Record<string, string> } | 'method' | undefined {
  let pathMatched = false
  for (const c of compiledRoutes) {
    // A static path is a resource of its own: GET /files/presigned-upload is a 405, not GetFile's 400.
    if (pathMatched && c.params.length > 0 && compiledRoutes.some((s) => s.params.length === 0 && s.pattern.test(path))) break
    const m = c.pattern.exec(path)
    if (!m) continue
    pathMatched = true
    if (c.route.method !== method) continue
    const params = Object.fromEntries(c.params.map((name, i) => [name, decodePathSegment(m[i + 1]!)]))
    return { route: c.route, params }
  }
  return pathMatched ? 'method' : undefined
}

/** The methods of `path`'s own resource, for a 405's `Allow` (RFC 9110, section 15.5.6). */
export function allowedMethods(path: string): string[] {
  const matching = compiledRoutes.filter((c) => c.pattern.test(path))
  const own = matching.some((c) => c.params.length === 0) ? matching.filter((c) => c.params.length === 0) : matching
  return [...new Set(own.map((c) => c.route.method))]
}

// A malformed escape such as `%zz` stays as sent, so the route's schema refuses it with a 400 rather than the decoder throwing.
function decodePathSegment(raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

const errorBody = (code: string, message: string) => JSON.stringify({ error: { code, message } })

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_REQUEST_BYTES) return undefined
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/**
 * Serves the route table as API Gateway would (HTTP API, payload 2.0, JWT authorizer), polls the
 * files queue like an SQS event source mapping, and runs the scheduled tasks on an interval. The
 * handlers are the modules that ship, imported by their entry path.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const log = options.log ?? ((message, fields) => console.log(JSON.stringify({ level: 'INFO', message, ...fields })))
  const modules = new Map<string, Promise<Handler>>()
  const load = <E, R>(entry: string): Promise<Handler<E, R>> => {
    if (!modules.has(entry)) {
      modules.set(entry, import(pathToFileURL(join(options.root, entry)).href).then((m: { handler: Handler }) => m.handler))
    }
    return modules.get(entry)! as Promise<Handler<E, R>>
  }

  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
    res.end(body)
  }

  const server = createServer(async (req, res) => {
    const started = performance.now()
    const url = splitTarget(req.url ?? '/')
    const method = req.method ?? 'GET'
    try {
      const match = matchRoute(method, url.pathname)
      if (match === undefined || match === 'method') {
        if (options.fallback && (await options.fallback(req, res))) return
        return match === 'method'
          ? send(res, 405, errorBody('METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}`), {
              allow: allowedMethods(url.pathname).join(', '),
            })
          : send(res, 404, errorBody('ROUTE_NOT_FOUND', `No route for ${method} ${url.pathname}`))
      }
      const { route, params } = match
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(',') : (v ?? '')]),
      )
      const claims = route.public ? undefined : await options.verify(headers.authorization)
      if (!route.public && !claims) {
        return send(res, 401, errorBody('UNAUTHORIZED', 'A valid bearer token is required'), { 'www-authenticate': 'Bearer' })
      }
      const body = await readBody(req)
      if (!body) return send(res, 413, errorBody('PAYLOAD_TOO_LARGE', 'Request body is too large'))

      const event = httpApiEvent({
        method,
        routeKey: `${route.method} ${route.path}`,
        rawPath: url.pathname,
        rawQueryString: url.query,
        headers,
        pathParameters: Object.keys(params).length ? params : undefined,
        body,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        claims,
      })
      const handler = await load<typeof event, APIGatewayProxyStructuredResultV2>(route.entry)
      const result = await handler(event, lambdaContext(route.id, functionSettings(route)))
      const payload = result.body ?? ''
      res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>)
      res.end(result.isBase64Encoded ? Buffer.from(payload, 'base64') : payload)
      log('request', { method, path: url.pathname, status: result.statusCode, ms: Math.round(performance.now() - started) })
    } catch (error) {
      log('local runtime error', { method, path: url.pathname, error: String(error) })
      if (!res.headersSent) send(res, 500, errorBody('INTERNAL', 'Internal server error'))
      else res.destroy()
    }
  })
  server.keepAliveTimeout = 65_000

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve())
  })
  const address = server.address() as AddressInfo
  const url = `http://${address.address}:${address.port}`

  const abort = new AbortController()
  // Every poller's long poll and every timer listens on this one signal: many listeners is the design, not a leak.
  setMaxListeners(0, abort.signal)
  const loops: Promise<void>[] = []
  const queues = { ...queuesFromEnvironment(), ...options.queues }
  for (const consumer of queueConsumers) {
    const queue = queues[consumer.queue]
    if (!queue) throw new Error(`no URL for the ${consumer.queue} queue that ${consumer.id} consumes`)
    loops.push(...consume(consumer, queue))
  }
  for (const task of scheduledTasks) {
    const every = options.schedules?.[task.id] ?? localScheduleIntervalMs(task)
    if (every > 0) loops.push(schedule(task.entry, task.id, every, functionSettings(task)))
  }

  /**
   * Polls `queue` for `consumer` the way an event source mapping does: several pollers, batches handed to
   * invocations capped at the consumer's maxConcurrency, partial batch failures left for redelivery. A poller
   * hands a batch over and polls again at once: waiting for each batch to finish left new messages queued
   * behind busy pollers.
   */
  function consume(consumer: (typeof queueConsumers)[number], queue: LocalQueue): Promise<void>[] {
    const invocations = new Set<Promise<void>>()
    const maxConcurrency = options.maxConcurrency ?? consumer.maxConcurrency
    const handler = load<SQSEvent, SQSBatchResponse | undefined>(consumer.entry)
    const context = () => lambdaContext(consumer.id, functionSettings(consumer))

    /** Makes messages received while closing visible again at once, for the next consumer. */
    const release = async (messages: { ReceiptHandle?: string }[]): Promise<void> => {
      if (messages.length === 0) return
      await options.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queue.url,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })),
        }),
      )
    }

    const invoke = async (event: SQSEvent): Promise<void> => {
      let failed: Set<string>
      try {
        const response = await (await handler)(event, context())
        failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier))
      } catch (error) {
        // A failed invocation returns the whole batch to the queue, as Lambda does.
        log('consumer invocation failed', { consumer: consumer.id, error: String(error) })
        return
      }
      const done = event.Records.filter((r) => !failed.has(r.messageId))
      if (done.length) {
        await options.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queue.url,
            Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
          }),
        )
      }
    }

    const poll = async (): Promise<void> => {
      await handler
      while (!abort.signal.aborted) {
        try {
          while (invocations.size >= maxConcurrency) await Promise.race(invocations)
          // Not aborted on close: SQS may hand messages to a long poll whose client has gone, and
          // they would stay invisible for the whole visibility timeout. Let the poll finish instead.
          const received = await options.sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: queue.url,
              MaxNumberOfMessages: consumer.batchSize,
              WaitTimeSeconds: options.waitTimeSeconds ?? 5,
              MessageSystemAttributeNames: ['All'],
            }),
          )
          const messages = received.Messages ?? []
          if (abort.signal.aborted) {
            await release(messages)
            break
          }
          if (messages.length === 0) continue
          const invocation = invoke({ Records: messages.map((m) => sqsRecord(m, queue.arn)) }).catch((error: unknown) => {
            log('deleting processed messages failed; they will be redelivered', { consumer: consumer.id, error: String(error) })
          })
          invocations.add(invocation)
          void invocation.finally(() => invocations.delete(invocation))
        } catch (error) {
          if (abort.signal.aborted) break
          log('queue poll failed; retrying', { consumer: consumer.id, error: String(error) })
          await sleep(1_000, abort.signal)
        }
      }
      await Promise.allSettled(invocations)
    }
    return Array.from({ length: options.pollers ?? 4 }, poll)
  }

  async function schedule(entry: string, id: string, everyMs: number, settings: FunctionSettings): Promise<void> {
    const handler = await load<unknown, unknown>(entry)
    while (!abort.signal.aborted) {
      await sleep(everyMs, abort.signal)
      if (abort.signal.aborted) break
      try {
        await handler({ source: 'local.scheduler', 'detail-type': 'Scheduled Event', id }, lambdaContext(id, settings))
      } catch (error) {
        log('scheduled task failed', { task: id, error: String(error) })
      }
    }
  }

  return {
    url,
    server,
    async close() {
      abort.abort()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await Promise.allSettled(loops)
    },
  }
}

/** Resolves after `ms`, or at once on abort; leaves no listener behind on a long-lived signal. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      resolve()
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
