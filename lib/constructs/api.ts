import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib'
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway'
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2'
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers'
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations'
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources'
import * as logs from 'aws-cdk-lib/aws-logs'
import * as events from 'aws-cdk-lib/aws-events'
import * as targets from 'aws-cdk-lib/aws-events-targets'
import { Construct } from 'constructs'
import { queueConsumers, routes, scheduledTasks, type QueueConsumer, type Route } from '../routes.js'
import {
  AppFunction,
  type AppFunctionDefaults,
  type AppFunctionProps,
  type FunctionAccess,
  type PipelineResources,
} from './app-function.js'

type FunctionId =
  | (typeof routes)[number]['id']
  | (typeof queueConsumers)[number]['id']
  | (typeof scheduledTasks)[number]['id']

/**
 * Least privilege per function, next to nothing else so that it reads as a table. Every function reaches the
 * database; the HashFile consumer's queue permissions come with its event source. A new entry in
 * `lib/routes.ts` does not compile until it is given a row here.
 */
const ACCESS = {
  PresignUpload: { bucket: ['put'], cache: ['connect'] },
  // CompleteMultipartUpload is authorised by s3:PutObject; the parts are listed first.
  ConfirmUploads: { bucket: ['read', 'put', 'parts'], queues: { files: ['send'] } },
  ListFiles: {},
  GetFile: { bucket: ['read'], cache: ['connect'] },
  // events and webhooks: a final transition's event is published, and its webhooks dispatched, right after its
  // commit (publishFileEvents in functions/core/outbox.ts); the relay's sweep is only the fallback.
  DeleteFile: { bucket: ['erase'], cache: ['connect'], queues: { webhooks: ['send'] }, events: ['put'] },
  // UploadPart URLs are signed with this role, and UploadPart is authorised by s3:PutObject.
  SignParts: { bucket: ['put'] },
  ListParts: { bucket: ['parts'] },
  Health: { bucket: ['probe'], queues: { files: ['probe'] }, cache: ['connect'] },
  // send: a file whose hash outlasts one invocation is handed to a continuation message it publishes itself.
  HashFile: { bucket: ['read', 'tag'], cache: ['connect'], queues: { files: ['send'], webhooks: ['send'] }, events: ['put'] },
  ApplyScanResult: { bucket: ['tag'], queues: { webhooks: ['send'] }, events: ['put'] },
  CreateWebhook: {},
  ListWebhooks: {},
  DeleteWebhook: {},
  ListWebhookDeliveries: {},
  RotateWebhookSecret: {},
  EnableWebhook: {},
  SendWebhooks: { queues: { 'webhook-results': ['send'] } },
  // send: a retry due within SQS's 15-minute delay is queued straight away.
  RecordWebhookResults: { queues: { webhooks: ['send'] } },
  RelayOutbox: { queues: { files: ['send'], webhooks: ['send'] }, events: ['put'] },
  SweepFiles: { bucket: ['delete', 'erase', 'abort'], queues: { files: ['send'] }, cache: ['connect'], events: ['put'] },
} as const satisfies Record<FunctionId, FunctionAccess>

export interface JwtSettings {
  readonly issuer: string
  readonly audience: readonly string[]
}

export interface ApiProps {
  readonly resources: PipelineResources
  readonly functionDefaults: AppFunctionDefaults
  readonly jwt: JwtSettings
  readonly corsOrigins: readonly string[]
  /** Default stage throttle: steady requests per second and burst. */
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number }
  readonly logRetention: logs.RetentionDays
}

/**
 * Everything that runs code, generated from `lib/routes.ts`: one function per HTTP route behind an HTTP API
 * with a JWT authorizer, one per queue consumer with its SQS event source, one per scheduled task.
 */
export class Api extends Construct {
  readonly httpApi: apigw.HttpApi
  readonly stage: apigw.HttpStage
  readonly functions: readonly AppFunction[]

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id)
    const { resources } = props
    const defineFunction = (fnId: FunctionId, spec: Omit<AppFunctionProps, keyof AppFunctionDefaults>, network: 'vpc' | 'internet' = 'vpc') =>
      network === 'vpc'
        ? new AppFunction(this, fnId, { ...props.functionDefaults, ...spec }).bind(resources, ACCESS[fnId])
        : new AppFunction(this, fnId, { ...props.functionDefaults, vpc: undefined, ...spec }).bindOutsideVpc(resources, ACCESS[fnId])

    this.httpApi = new apigw.HttpApi(this, 'HttpApi', {
      description: 'Upload pipeline HTTP API (payload format 2.0)',
      // The $default stage is declared below instead, because only an explicit stage takes throttling and logs.
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: [...props.corsOrigins],
        allowMethods: [apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST, apigw.CorsHttpMethod.DELETE, apigw.CorsHttpMethod.OPTIONS],
        allowHeaders: ['authorization', 'content-type'],
        exposeHeaders: ['x-cache'],
        maxAge: Duration.hours(1),
      },
    })
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(
          new logs.LogGroup(this, 'AccessLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY }),
        ),
        // JSON so that Logs Insights can filter on any field; the variables are the HTTP API ones.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            responseLength: '$context.responseLength',
            responseLatency: '$context.responseLatency',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
            sub: '$context.authorizer.claims.sub',
          }),
        ),
      },
    })

    const authorizer = new HttpJwtAuthorizer('JwtAuthorizer', props.jwt.issuer, {
      jwtAudience: [...props.jwt.audience],
    })
    const functions: AppFunction[] = []

    for (const route of routes as readonly (Route & { id: FunctionId })[]) {
      const fn = defineFunction(route.id, {
        entry: route.entry,
        memoryMb: route.memoryMb,
        timeoutSeconds: route.timeoutSeconds,
      })
      const [apiRoute] = this.httpApi.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration: new HttpLambdaIntegration(`${route.id}Integration`, fn),
        authorizer: route.public ? new apigw.HttpNoneAuthorizer() : authorizer,
      })
      if (route.public && apiRoute) {
        Validations.of(apiRoute).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: `${route.method} ${route.path} is public by design in lib/routes.ts: uptime probes carry no token.`,
        })
      }
      functions.push(fn)
    }

    for (const consumer of queueConsumers as readonly (QueueConsumer & { id: FunctionId })[]) {
      // The webhook sender calls arbitrary public URLs: outside the VPC it has no path to anything private even
      // if an address check were bypassed, and it needs no NAT; its queue message carries all it needs.
      const fn = defineFunction(
        consumer.id,
        { entry: consumer.entry, memoryMb: consumer.memoryMb, timeoutSeconds: consumer.timeoutSeconds },
        consumer.network,
      )
      fn.addEventSource(
        new SqsEventSource(resources.queues[consumer.queue].queue, {
          batchSize: consumer.batchSize,
          maxBatchingWindow: Duration.seconds(consumer.maxBatchingWindowSeconds),
          maxConcurrency: consumer.maxConcurrency,
          reportBatchItemFailures: true,
        }),
      )
      functions.push(fn)
    }

    for (const task of scheduledTasks) {
      // A missed or failed run is picked up by the next tick, so neither EventBridge nor Lambda's asynchronous
      // invocation retries: retries would only pile runs on top of each other. An EventBridge rule rather than
      // EventBridge Scheduler: it invokes through the function's resource policy, with no role to manage.
      const fn = defineFunction(task.id, { entry: task.entry, timeoutSeconds: task.timeoutSeconds, retryAttempts: 0 })
      new events.Rule(this, `${task.id}Schedule`, {
        description: `Runs ${task.entry} every ${task.everySeconds} s`,
        schedule: events.Schedule.rate(Duration.seconds(task.everySeconds)),
        targets: [
          new targets.LambdaFunction(fn, {
            retryAttempts: 0,
            maxEventAge: Duration.seconds(Math.max(60, task.everySeconds)),
          }),
        ],
      })
      functions.push(fn)
    }

    this.functions = functions
  }

  get url(): string {
    return this.stage.url
  }
}
