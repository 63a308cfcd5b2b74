import { Duration, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as elasticache from 'aws-cdk-lib/aws-elasticache'
import type * as logs from 'aws-cdk-lib/aws-logs'
import * as rds from 'aws-cdk-lib/aws-rds'
import * as s3 from 'aws-cdk-lib/aws-s3'
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import * as events from 'aws-cdk-lib/aws-events'
import * as sqs from 'aws-cdk-lib/aws-sqs'
import { Construct } from 'constructs'
import type { QueueName } from '../routes.js'
import { BUCKET_CORS, EVENT_SOURCE, multipartAbortDays, queueId, queues, type QueueSettings, visibilityTimeoutSeconds } from '../settings.js'
import type { CacheEndpoint, DatabaseEndpoint } from './app-function.js'

export interface DatabaseSettings {
  /** Aurora capacity units; 0.5 is the smallest that keeps the writer warm. */
  readonly minCapacity: number
  readonly maxCapacity: number
  /** Serverless v2 readers in other AZs, scaled with the writer: the failover targets. */
  readonly readers: number
  readonly backupRetentionDays: number
}

export interface CacheSettings {
  readonly maxDataGb: number
  readonly maxEcpuPerSecond: number
}

export interface DataProps {
  readonly vpc: ec2.IVpc
  readonly subnets: ec2.SubnetSelection
  readonly secretsManagerEndpoint: ec2.IInterfaceVpcEndpoint
  /** Browser origins allowed to POST uploads straight to the bucket. */
  readonly corsOrigins: readonly string[]
  readonly database: DatabaseSettings
  readonly cache: CacheSettings
  readonly logRetention: logs.RetentionDays
}

const DATABASE_NAME = 'uploads'
const DATABASE_USER = 'uploads_admin'
const POSTGRES_PORT = 5432
/** ElastiCache Serverless: 6379 is the primary endpoint, 6380 reads from replicas. */
const CACHE_PORTS = ec2.Port.tcpRange(6379, 6380)

/**
 * Every stateful resource, in one construct whose id and child ids never change: renaming any of them would
 * replace the resource and lose its data. Removal policies are explicit and say what a stack deletion keeps.
 */
export class Data extends Construct {
  readonly bucket: s3.Bucket
  /** One queue and dead-letter queue per entry of `queues` in `lib/settings.ts`. */
  readonly queues: Readonly<Record<QueueName, { queue: sqs.Queue; deadLetterQueue: sqs.Queue }>>
  /** The files queue and its dead-letter queue. */
  readonly queue: sqs.Queue
  readonly deadLetterQueue: sqs.Queue
  /** Every final-state event (`Source: upload-pipeline`), archived for replay (docs/RUNBOOK.md). */
  readonly eventBus: events.EventBus
  readonly databaseSecret: secretsmanager.ISecret
  readonly databaseClusterArn: string
  readonly database: DatabaseEndpoint
  readonly cache: CacheEndpoint

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id)
    this.bucket = this.createBucket(props)
    this.queues = Object.fromEntries(queues.map((q) => [q.name, this.createQueues(q)])) as Data['queues']
    this.queue = this.queues.files.queue
    this.deadLetterQueue = this.queues.files.deadLetterQueue
    this.eventBus = new events.EventBus(this, 'FilesEventBus', { description: 'Upload pipeline file events' })
    this.eventBus.archive('FilesEventArchive', {
      description: 'Every upload-pipeline event, for replay',
      eventPattern: { source: [EVENT_SOURCE] },
      retention: Duration.days(30),
    })
    const database = this.createDatabase(props)
    this.databaseSecret = database.secret
    this.databaseClusterArn = database.clusterArn
    this.database = database.endpoint
    this.cache = this.createCache(props)
  }

  private createBucket(props: DataProps): s3.Bucket {
    const accessLogs = new s3.Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    })
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket; logging it to itself would loop.',
    })

    // SSE-S3 rather than KMS: a customer key would add KMS permissions to the browser-facing presigned POST and a
    // KMS endpoint to the VPC for no gain in this threat model (the bucket is private and TLS-only).
    return new s3.Bucket(this, 'FilesBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'files/',
      cors: [
        {
          allowedOrigins: [...props.corsOrigins],
          allowedMethods: BUCKET_CORS.allowedMethods.map((m) => s3.HttpMethods[m]),
          allowedHeaders: [...BUCKET_CORS.allowedHeaders],
          exposedHeaders: [...BUCKET_CORS.exposedHeaders],
          maxAge: BUCKET_CORS.maxAgeSeconds,
        },
      ],
      // Keys carry no status prefix (a file's state lives in Postgres), so lifecycle rules cannot tell a confirmed
      // object from an abandoned one; the sweeper deletes the objects of uploads it expires. Lifecycle only cleans
      // what nothing else tracks: multipart parts that never completed, after the window the API signs them in.
      //
      // No rule expires noncurrent versions. A file is served from the version it was confirmed with
      // (files.version_id), and that version turns noncurrent as soon as the key is overwritten: a second POST
      // within the upload URL's lifetime, or a plain DELETE. An expiration would then remove the served bytes
      // and every download would answer 404. Versions go when their file does: DELETE /files/{id} removes every
      // version of the key (storage `erase`). docs/RUNBOOK.md, "Object versions", says what that leaves.
      lifecycleRules: [
        {
          id: 'AbortIncompleteMultipartUploads',
          abortIncompleteMultipartUploadAfter: Duration.days(multipartAbortDays()),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    })
  }

  /** Ids derive from the queue's name (`files` → `FilesQueue`), which therefore must never change. */
  private createQueues(settings: QueueSettings): { queue: sqs.Queue; deadLetterQueue: sqs.Queue } {
    const id = queueId(settings.name)
    // Retained: a message here is the evidence of what failed and why.
    const deadLetterQueue = new sqs.Queue(this, `${id}DeadLetterQueue`, {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.seconds(settings.deadLetterRetentionSeconds),
      removalPolicy: RemovalPolicy.RETAIN,
    })
    const queue = new sqs.Queue(this, `${id}Queue`, {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(settings.name)),
      retentionPeriod: Duration.seconds(settings.retentionSeconds),
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
      removalPolicy: RemovalPolicy.DESTROY,
    })
    return { queue, deadLetterQueue }
  }

  private createDatabase(props: DataProps): {
    secret: secretsmanager.ISecret
    clusterArn: string
    endpoint: DatabaseEndpoint
  } {
    // Kept with the final snapshot, so that a restore has the credentials it was taken with.
    const secret = new rds.DatabaseSecret(this, 'DatabaseSecret', { username: DATABASE_USER })
    secret.applyRemovalPolicy(RemovalPolicy.RETAIN)
    const cluster = new rds.DatabaseCluster(this, 'Database', {
      // The same major version as the Postgres that local development and CI run against.
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_15_13 }),
      credentials: rds.Credentials.fromSecret(secret),
      defaultDatabaseName: DATABASE_NAME,
      port: POSTGRES_PORT,
      writer: rds.ClusterInstance.serverlessV2('Writer'),
      readers: Array.from({ length: props.database.readers }, (_, i) =>
        rds.ClusterInstance.serverlessV2(`Reader${i + 1}`, { scaleWithWriter: true }),
      ),
      serverlessV2MinCapacity: props.database.minCapacity,
      serverlessV2MaxCapacity: props.database.maxCapacity,
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      storageEncrypted: true,
      iamAuthentication: true,
      // SQL for operators without a bastion in this internet-less VPC, gated by IAM and the secret (RUNBOOK.md).
      enableDataApi: true,
      deletionProtection: true,
      backup: { retention: Duration.days(props.database.backupRetentionDays) },
      cloudwatchLogsExports: ['postgresql'],
      cloudwatchLogsRetention: props.logRetention,
      removalPolicy: RemovalPolicy.SNAPSHOT,
    })
    Validations.of(cluster).acknowledge({
      id: 'AwsSolutions-RDS11',
      reason: 'A non-default port is obscurity, not security: only the proxy and the rotation function can reach the cluster.',
    })
    // `cloudwatchLogsRetention` is applied by CDK's log-retention singleton function (a fixed construct id).
    const logRetentionFunction = Stack.of(this).node.tryFindChild('LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a')
    if (logRetentionFunction) {
      Validations.of(logRetentionFunction).acknowledge(
        {
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason: 'CDK-managed function that sets log retention; the AWS-managed policy only lets it write its own logs.',
        },
        {
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: 'CDK-managed function that sets log retention; RDS names the log group only when the cluster exists.',
        },
      )
    }

    // The attachment, not the bare secret: it adds the cluster's host and port, which the rotation needs.
    const attachedSecret = cluster.secret
    if (!attachedSecret) throw new Error('The database cluster did not attach its secret')
    cluster.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      vpcSubnets: props.subnets,
      endpoint: props.secretsManagerEndpoint,
    })

    // Only the proxy reads the secret. Functions sign in to the proxy with short-lived IAM tokens (see
    // AppFunction.bindDatabase) rather than fetching the secret at cold start: no password in their environment
    // or memory, no Secrets Manager round trip (or endpoint dependency) on a cold start, and a rotation is
    // invisible to warm functions, which would otherwise hold a stale password until they were recycled.
    // The proxy also pools connections, so Lambda's concurrency cannot exhaust Postgres' connection slots.
    const proxy = cluster.addProxy('DatabaseProxy', {
      secrets: [attachedSecret],
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      iamAuth: true,
      requireTLS: true,
      borrowTimeout: Duration.seconds(30),
    })

    return {
      secret: attachedSecret,
      clusterArn: cluster.clusterArn,
      endpoint: {
        proxy,
        connections: new ec2.Connections({
          securityGroups: proxy.connections.securityGroups,
          defaultPort: ec2.Port.tcp(POSTGRES_PORT),
        }),
        username: DATABASE_USER,
        databaseName: DATABASE_NAME,
        port: POSTGRES_PORT,
      },
    }
  }

  private createCache(props: DataProps): CacheEndpoint {
    const securityGroup = new ec2.SecurityGroup(this, 'CacheSecurityGroup', {
      vpc: props.vpc,
      description: 'ElastiCache Serverless: reachable only from the functions bound to it',
      allowAllOutbound: false,
    })
    // Serverless caches always encrypt in transit. Access is by security group only: the content is a copy of
    // objects the same functions may read from S3, so per-user cache auth would protect nothing more.
    const cache = new elasticache.CfnServerlessCache(this, 'Cache', {
      engine: 'valkey',
      majorEngineVersion: '8',
      // The name is required by CloudFormation; derive it from the construct path so copies of the stack differ.
      serverlessCacheName: Names.uniqueResourceName(this, { maxLength: 40, separator: '-' }).toLowerCase(),
      description: 'Small-file content cache',
      securityGroupIds: [securityGroup.securityGroupId],
      subnetIds: props.vpc.selectSubnets(props.subnets).subnetIds,
      cacheUsageLimits: {
        dataStorage: { maximum: props.cache.maxDataGb, unit: 'GB' },
        ecpuPerSecond: { maximum: props.cache.maxEcpuPerSecond },
      },
    })
    // Everything in it can be rebuilt from S3 on the next miss.
    cache.applyRemovalPolicy(RemovalPolicy.DESTROY)

    return {
      connections: new ec2.Connections({ securityGroups: [securityGroup], defaultPort: CACHE_PORTS }),
      address: cache.attrEndpointAddress,
      port: cache.attrEndpointPort,
    }
  }
}
