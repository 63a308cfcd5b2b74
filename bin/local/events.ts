import type { FunctionSettings } from '../../lib/settings.js'
import { randomUUID } from 'node:crypto'
import type { APIGatewayProxyEventV2WithJWTAuthorizer, Context, SQSRecord } from 'aws-lambda'
import type { JWTPayload } from 'jose'

/**
 * The request target split at its first `?`, as API Gateway sees it. Not `new URL()`: it throws on targets such
 * as `//%zz`, `//[::1` or `http://host:99999/` and reads `//host/path` as a host. Any target that is not a known
 * path simply matches no route.
 */
export function splitTarget(target: string): { pathname: string; query: string } {
  const q = target.indexOf('?')
  return q === -1 ? { pathname: target, query: '' } : { pathname: target.slice(0, q), query: target.slice(q + 1) }
}

/** An API Gateway HTTP API (payload format 2.0) event, as the real integration sends it. */
export function httpApiEvent(input: {
  method: string
  routeKey: string
  rawPath: string
  rawQueryString: string
  headers: Record<string, string>
  pathParameters: Record<string, string> | undefined
  body: Buffer
  sourceIp: string
  claims: JWTPayload | undefined
}): APIGatewayProxyEventV2WithJWTAuthorizer {
  const now = new Date()
  const query = new URLSearchParams(input.rawQueryString)
  const queryStringParameters: Record<string, string> = {}
  // API Gateway joins repeated query parameters with commas.
  for (const key of new Set(query.keys())) queryStringParameters[key] = query.getAll(key).join(',')
  const textual = /^(application\/(json|x-www-form-urlencoded)|text\/)/i.test(input.headers['content-type'] ?? 'application/json')
  return {
    version: '2.0',
    routeKey: input.routeKey,
    rawPath: input.rawPath,
    rawQueryString: input.rawQueryString,
    headers: input.headers,
    ...(input.rawQueryString ? { queryStringParameters } : {}),
    ...(input.pathParameters ? { pathParameters: input.pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: input.headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: input.method,
        path: input.rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: input.sourceIp,
        userAgent: input.headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: input.routeKey,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
      authorizer: {
        principalId: '',
        integrationLatency: 0,
        jwt: {
          claims: Object.fromEntries(Object.entries(input.claims ?? {}).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : (v as string | number | boolean)])),
          scopes: [],
        },
      },
    },
    ...(input.body.length > 0
      ? textual
        ? { body: input.body.toString('utf8'), isBase64Encoded: false }
        : { body: input.body.toString('base64'), isBase64Encoded: true }
      : { isBase64Encoded: false }),
  }
}

/** A Lambda context for a locally invoked handler. */
/** The context Lambda gives an invocation of a function with these settings (its deadline and memory). */
export function lambdaContext(functionName: string, { timeoutSeconds, memoryMb }: FunctionSettings): Context {
  const deadline = Date.now() + timeoutSeconds * 1000
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }
}

/** An SQS record as an event source mapping hands it to Lambda. */
export function sqsRecord(message: {
  MessageId?: string
  ReceiptHandle?: string
  Body?: string
  Attributes?: Partial<Record<string, string>>
  MD5OfBody?: string
}, queueArn: string): SQSRecord {
  const attributes = message.Attributes ?? {}
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? '000000000000',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'us-east-1',
  }
}
