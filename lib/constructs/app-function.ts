import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import type * as events from 'aws-cdk-lib/aws-events'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as lambda from 'aws-cdk-lib/aws-lambda'
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs'
import * as logs from 'aws-cdk-lib/aws-logs'
import type * as rds from 'aws-cdk-lib/aws-rds'
import type * as s3 from 'aws-cdk-lib/aws-s3'
import type * as sqs from 'aws-cdk-lib/aws-sqs'
import type { Construct } from 'constructs'
import type { QueueName } from '../routes.js'
import { FUNCTION_DEFAULTS, METRICS, queues } from '../settings.js'

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** Powertools settings shared by every function; the outbox-age alarm depends on both. */
export const POWERTOOLS = { serviceName: METRICS.serviceName, metricsNamespace: METRICS.namespace } as const

/**
 * esbuild settings for every handler, shared with the bundle test so that what is tested is what ships.
 * Everything is bundled (the runtime's own SDK is not used) so that dependency versions are the pinned ones.
 * The banner gives the ESM bundle a `require` for the CommonJS dependencies (pg, ioredis) that call it.
 */
export const BUNDLE = {
  target: 'node24',
  mainFields: ['module', 'main'],
  banner: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  minify: true,
  // Error classes and middleware are recognised by name in logs.
  keepNames: true,
  // The map only needs positions: stack traces point at the sources, which stay in the repository.
  sourcesContent: false,
} as const

export type BucketAccess = 'read' | 'put' | 'delete' | 'erase' | 'probe' | 'parts' | 'abort' | 'tag'
export type QueueAccess = 'send' | 'probe'
export type CacheAccess = 'connect'
export type EventsAccess = 'put'

/** What a function needs to reach the database: the proxy it connects through, as which user, to which database. */
export interface DatabaseEndpoint {
  readonly proxy: rds.IDatabaseProxy
  /** The proxy's security groups, with the Postgres port as the default. */
  readonly connections: ec2.Connections
  readonly username: string
  readonly databaseName: string
  readonly port: number
}

export interface CacheEndpoint {
  /** The cache's security group, with its ports as the default. */
  readonly connections: ec2.Connections
  readonly address: string
  readonly port: string
}

/** The stateful resources a function may be bound to; `Data` provides them. */
export interface PipelineResources {
  readonly bucket: s3.IBucket
  readonly queues: Readonly<Record<QueueName, { readonly queue: sqs.IQueue }>>
  readonly database: DatabaseEndpoint
  readonly cache: CacheEndpoint
  readonly eventBus: events.IEventBus
}

/** What a function may do with each resource; an omitted resource gets its environment variable only. */
export interface FunctionAccess {
  readonly bucket?: readonly BucketAccess[]
  readonly queues?: { readonly [Q in QueueName]?: readonly QueueAccess[] }
  readonly cache?: readonly CacheAccess[]
  readonly events?: readonly EventsAccess[]
}

export interface AppFunctionDefaults {
  /** Undefined only for a function that must reach the internet and nothing private (the webhook sender). */
  readonly vpc: ec2.IVpc | undefined
  readonly vpcSubnets: ec2.SubnetSelection
  readonly logRetention: logs.RetentionDays
  /** Tunables every function receives (names from `functions/core/config.ts`). */
  readonly environment?: Readonly<Record<string, string>>
  /**
   * Deploy a stub instead of bundling `entry`. Only infrastructure tests set this, so that they neither need the
   * handler sources nor spend time in esbuild; the real synth always bundles.
   */
  readonly skipBundling?: boolean
}

export interface AppFunctionProps extends AppFunctionDefaults {
  /** Handler module relative to the repository root, as in `lib/routes.ts`. */
  readonly entry: string
  readonly memoryMb?: number
  readonly timeoutSeconds?: number
  /** Retries of asynchronous invocations (Lambda's default is 2). */
  readonly retryAttempts?: number
}

/**
 * The one way this app defines a Lambda function: Node 24 on arm64, an ESM bundle with source maps, its own log
 * group with a retention, and `bind*` helpers that set a resource's environment variable and grant exactly the
 * listed access in one call.
 */
export class AppFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: AppFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    })
    super(scope, id, {
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memoryMb ?? FUNCTION_DEFAULTS.memoryMb,
      timeout: Duration.seconds(props.timeoutSeconds ?? FUNCTION_DEFAULTS.timeoutSeconds),
      description: props.entry,
      logGroup,
      vpc: props.vpc,
      vpcSubnets: props.vpc ? props.vpcSubnets : undefined,
      retryAttempts: props.retryAttempts,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: POWERTOOLS.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: POWERTOOLS.metricsNamespace,
        ...props.environment,
      },
      ...(props.skipBundling
        ? { code: lambda.Code.fromInline('exports.handler = async () => { throw new Error("stub") }'), handler: 'index.handler' }
        : {
            entry: resolve(PROJECT_ROOT, props.entry),
            projectRoot: PROJECT_ROOT,
            depsLockFilePath: resolve(PROJECT_ROOT, 'package-lock.json'),
            bundling: {
              format: OutputFormat.ESM,
              target: BUNDLE.target,
              mainFields: [...BUNDLE.mainFields],
              banner: BUNDLE.banner,
              minify: BUNDLE.minify,
              keepNames: BUNDLE.keepNames,
              sourcesContent: BUNDLE.sourcesContent,
              sourceMap: true,
              sourceMapMode: SourceMapMode.DEFAULT,
              externalModules: [],
            },
          }),
    })

    Validations.of(this).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'The AWS-managed execution policy only lets the function write its own logs.',
      },
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason: 'A function in a VPC must manage its ENIs; EC2 does not allow scoping those actions to resources.',
      },
    )
  }

  /**
   * Binds every resource: the shared config (`functions/core/config.ts`) requires all of their locations in
   * every function, while `access` lists the only permissions and network paths this function gets.
   */
  bind(resources: PipelineResources, access: FunctionAccess): this {
    for (const settings of queues) {
      this.bindQueue(resources.queues[settings.name].queue, settings.urlVariable, ...(access.queues?.[settings.name] ?? []))
    }
    return this.bindBucket(resources.bucket, ...(access.bucket ?? []))
      .bindDatabase(resources.database)
      .bindCache(resources.cache, ...(access.cache ?? []))
      .bindEventBus(resources.eventBus, ...(access.events ?? []))
  }

  /**
   * For a function outside the VPC: the same environment (the shared config requires every location), but no
   * network path to the database or the cache and no database grant; only the queues and bus in `access`.
   */
  bindOutsideVpc(resources: PipelineResources, access: FunctionAccess): this {
    for (const settings of queues) {
      this.bindQueue(resources.queues[settings.name].queue, settings.urlVariable, ...(access.queues?.[settings.name] ?? []))
    }
    const { database } = resources
    this.addEnvironment('DATABASE_URL', `postgres://${database.username}@${database.proxy.endpoint}:${database.port}/${database.databaseName}?sslmode=verify-full`)
    this.addEnvironment('DATABASE_IAM_AUTH', 'true')
    return this.bindBucket(resources.bucket, ...(access.bucket ?? []))
      .bindCache(resources.cache)
      .bindEventBus(resources.eventBus, ...(access.events ?? []))
  }

  /** Sets `FILES_EVENT_BUS_NAME`; `put` grants PutEvents on that bus only. */
  bindEventBus(bus: events.IEventBus, ...access: EventsAccess[]): this {
    this.addEnvironment('FILES_EVENT_BUS_NAME', bus.eventBusName)
    if (access.includes('put')) bus.grantPutEventsTo(this)
    return this
  }

  /**
   * Sets `FILES_BUCKET_NAME` and grants only `access`, as single actions rather than the wildcards of
   * `bucket.grantRead()` and friends: `read` (GetObject, which HeadObject also needs; GetObjectVersion, since
   * reads of a confirmed file name the version confirm recorded; and ListBucket so that a missing key answers
   * 404 rather than 403), `put` (the presigned POST is signed with this role), `delete`,
   * `erase` (every version and unfinished multipart upload of a key), `probe` (HeadBucket for health checks),
   * `parts` (ListParts of a multipart upload), `abort` (AbortMultipartUpload, and ListBucketMultipartUploads to
   * find the strays).
   */
  bindBucket(bucket: s3.IBucket, ...access: BucketAccess[]): this {
    this.addEnvironment('FILES_BUCKET_NAME', bucket.bucketName)
    const objects = bucket.arnForObjects('*')
    const statements: Record<BucketAccess, iam.PolicyStatement[]> = {
      read: [
        new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: [objects] }),
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
      ],
      put: [new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [objects] })],
      delete: [new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: [objects] })],
      // Deleting a file removes every version and aborts its multipart upload (functions/core/storage.ts erase).
      erase: [
        new iam.PolicyStatement({
          actions: ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:AbortMultipartUpload'],
          resources: [objects],
        }),
        new iam.PolicyStatement({ actions: ['s3:ListBucket', 's3:ListBucketVersions', 's3:ListBucketMultipartUploads'], resources: [bucket.bucketArn] }),
      ],
      probe: [new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] })],
      // Quarantine adds its tag to the pinned version's tags, which it reads first so as to keep GuardDuty's.
      tag: [
        new iam.PolicyStatement({
          actions: ['s3:GetObjectTagging', 's3:PutObjectTagging', 's3:GetObjectVersionTagging', 's3:PutObjectVersionTagging'],
          resources: [objects],
        }),
      ],
      parts: [new iam.PolicyStatement({ actions: ['s3:ListMultipartUploadParts'], resources: [objects] })],
      abort: [
        new iam.PolicyStatement({ actions: ['s3:AbortMultipartUpload'], resources: [objects] }),
        new iam.PolicyStatement({ actions: ['s3:ListBucketMultipartUploads'], resources: [bucket.bucketArn] }),
      ],
    }
    const levels = new Set(access)
    for (const level of levels) for (const statement of statements[level]) this.addToRolePolicy(statement)
    if (['read', 'put', 'delete', 'erase', 'parts', 'abort', 'tag'].some((level) => levels.has(level as BucketAccess))) {
      Validations.of(this).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(bucket.node.defaultChild as CfnElement)}.Arn>/*]`,
        reason: 'Object keys are generated per upload, so object actions are granted on all keys of this one bucket.',
      })
    }
    return this
  }

  /** Sets the queue's URL variable and grants only `access`: `send`, or `probe` (GetQueueAttributes for health checks). */
  bindQueue(queue: sqs.IQueue, urlVariable: string, ...access: QueueAccess[]): this {
    this.addEnvironment(urlVariable, queue.queueUrl)
    for (const level of new Set(access)) {
      if (level === 'send') queue.grantSendMessages(this)
      if (level === 'probe') queue.grant(this, 'sqs:GetQueueAttributes')
    }
    return this
  }

  /**
   * Opens the proxy's port to this function, allows `rds-db:connect` as the database user, and sets
   * `DATABASE_URL` (no password) with `DATABASE_IAM_AUTH=true`: the function signs a 15-minute IAM token as
   * the password of each new connection.
   */
  bindDatabase(database: DatabaseEndpoint): this {
    this.allowTo(database.connections, 'Database')
    database.proxy.grantConnect(this, database.username)
    this.addEnvironment(
      'DATABASE_URL',
      `postgres://${database.username}@${database.proxy.endpoint}:${database.port}/${database.databaseName}?sslmode=verify-full`,
    )
    this.addEnvironment('DATABASE_IAM_AUTH', 'true')
    return this
  }

  /**
   * Sets `REDIS_URL` and `REDIS_TLS` (the shared config requires them in every function) and `REDIS_CLUSTER`:
   * ElastiCache Serverless always encrypts in transit and speaks cluster mode. `connect` also opens the
   * cache's ports to this function.
   */
  bindCache(cache: CacheEndpoint, ...access: CacheAccess[]): this {
    if (access.includes('connect')) this.allowTo(cache.connections, 'Cache')
    this.addEnvironment('REDIS_URL', `rediss://${cache.address}:${cache.port}`)
    this.addEnvironment('REDIS_TLS', 'true')
    this.addEnvironment('REDIS_CLUSTER', 'true')
    return this
  }

  /**
   * Opens `target`'s default port to this function with ingress rules that belong to the function, not to the
   * target's security group as `Connections.allowFrom` would place them. The data layer then never depends on
   * a function, which lets the migration trigger run after the whole data layer and before every function.
   */
  private allowTo(target: ec2.Connections, name: string): void {
    const port = target.defaultPort
    if (!port) throw new Error(`${name} connections have no default port`)
    for (const [i, to] of target.securityGroups.entries()) {
      for (const [j, from] of this.connections.securityGroups.entries()) {
        new ec2.CfnSecurityGroupIngress(this, `${name}Ingress${i}${j}`, {
          ...port.toRuleJson(),
          groupId: to.securityGroupId,
          sourceSecurityGroupId: from.securityGroupId,
          description: `${this.node.path} to ${name}`,
        })
      }
    }
  }
}
