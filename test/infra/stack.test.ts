import { Annotations, Match } from 'aws-cdk-lib/assertions'
import { AwsSolutionsChecks } from 'cdk-nag'
import { beforeAll, describe, expect, it } from 'vitest'
import { LOCAL_DEFAULTS } from '../../bin/local/environment.js'
import { corsRules, localQueueAttributes } from '../../localstack/provision.js'
import { queueConsumers, routes, scheduledTasks, type QueueName, type Route } from '../../lib/routes.js'
import {
  functionSettings,
  hashMemoryFloorMb,
  METRICS,
  MULTIPART_UPLOAD_TTL_SECONDS,
  multipartAbortDays,
  oldestMessageAlarmSeconds,
  pipelineEnvironment,
  queueId,
  queues,
  type QueueSettings,
  visibilityTimeoutSeconds,
} from '../../lib/settings.js'
import { HANDOFF_RESERVE_MS } from '../../functions/core/sync.js'
import { appFunctions, entries, type Json, logicalIdsOf, synthStack, testProps } from './synth.js'

let synthesized: ReturnType<typeof synthStack>
let functions: ReturnType<typeof appFunctions>
beforeAll(() => {
  synthesized = synthStack()
  functions = appFunctions(synthesized.template)
})
const template = () => synthesized.template
const ref = (logicalId: string) => ({ Ref: logicalId })
const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] })
const single = (type: string): string => {
  const ids = logicalIdsOf(template(), type)
  expect(ids).toHaveLength(1)
  return ids[0] as string
}

const FILES_BUCKET = 'DataFilesBucketB56395FD'
const FILES_QUEUE = 'DataFilesQueueC9571A9B'
const DEAD_LETTER_QUEUE = 'DataFilesDeadLetterQueue676DFB76'
const OUTSIDE_VPC: readonly string[] = queueConsumers.filter((c) => 'network' in c && c.network === 'internet').map((c) => c.id)
const SCAN_RESULTS_QUEUE = 'DataScanResultsQueue4A77DF3F'
const SCAN_RESULTS_DEAD_LETTER_QUEUE = 'DataScanResultsDeadLetterQueue66831DDC'
const SITE_ORIGIN = { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': ['SiteDistribution390DED28', 'DomainName'] }]] }

describe('the HTTP API', () => {
  it.each(routes as readonly Route[])('serves $method $path through its own function', (route) => {
    const routeResources = template().findResources('AWS::ApiGatewayV2::Route', {
      Properties: { RouteKey: `${route.method} ${route.path}` },
    })
    const [apiRoute] = Object.values(routeResources)
    expect(Object.keys(routeResources)).toHaveLength(1)

    const integrationId = apiRoute?.Properties.Target['Fn::Join'][1][1].Ref
    const integration = template().toJSON().Resources[integrationId]
    expect(integration).toMatchObject({
      Type: 'AWS::ApiGatewayV2::Integration',
      Properties: {
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: arnOf(functions[route.id]?.logicalId ?? 'missing'),
      },
    })
  })

  it.each(routes as readonly Route[])('guards $method $path with the JWT authorizer unless it is public', (route) => {
    const authorizerId = single('AWS::ApiGatewayV2::Authorizer')
    template().hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: `${route.method} ${route.path}`,
      AuthorizationType: route.public ? 'NONE' : 'JWT',
      AuthorizerId: route.public ? Match.absent() : ref(authorizerId),
    })
  })

  it('validates tokens from the configured issuer and audience', () => {
    template().hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: testProps.jwt.issuer, Audience: testProps.jwt.audience },
    })
  })

  it('throttles and logs every request on the default stage', () => {
    template().hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      AccessLogSettings: {
        DestinationArn: arnOf('ApiAccessLogs50B185DB'),
        Format: Match.stringLikeRegexp('\\$context\\.requestId'),
      },
    })
  })

  it('answers browser preflights from the configured origins and the static site', () => {
    template().hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: [...testProps.corsOrigins, SITE_ORIGIN] }),
    })
  })
})

describe('the functions', () => {
  it('deploy one function per route, consumer and scheduled task, plus the migration', () => {
    expect(Object.keys(functions).sort()).toEqual(Object.keys(entries).sort())
  })

  it.each(Object.keys(entries))('%s runs Node 24 on arm64 with source maps and a log retention', (id) => {
    const fn = functions[id]?.properties
    expect(fn).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps' } },
    })
    // Only the webhook sender runs outside the VPC (lib/routes.ts `network: 'internet'`).
    if (OUTSIDE_VPC.includes(id)) expect(fn.VpcConfig).toBeUndefined()
    else expect(fn.VpcConfig).toMatchObject({ SubnetIds: expect.any(Array) })
    const logGroupId = fn.LoggingConfig.LogGroup.Ref
    expect(template().toJSON().Resources[logGroupId].Properties.RetentionInDays).toBe(30)
  })

  it.each(Object.keys(entries))('%s gets every variable the shared config requires', (id) => {
    const variables = functions[id]?.properties.Environment.Variables
    expect(Object.keys(variables)).toEqual(
      expect.arrayContaining(['FILES_BUCKET_NAME', 'FILES_QUEUE_URL', 'DATABASE_URL', 'DATABASE_IAM_AUTH', 'REDIS_URL', 'REDIS_TLS']),
    )
    expect(variables.DATABASE_URL['Fn::Join'][1]).toEqual([
      'postgres://uploads_admin@',
      { 'Fn::GetAtt': ['DataDatabaseDatabaseProxy39D50854', 'Endpoint'] },
      ':5432/uploads?sslmode=verify-full',
    ])
    expect(variables.DATABASE_IAM_AUTH).toBe('true')
    expect(variables.REDIS_URL['Fn::Join'][1][0]).toBe('rediss://')
  })

  it.each(Object.keys(entries))('%s gets the shared pipeline settings, the same the local runtime applies', (id) => {
    const shared = pipelineEnvironment()
    expect(functions[id]?.properties.Environment.Variables).toMatchObject(shared)
    expect(Object.fromEntries(Object.keys(shared).map((k) => [k, LOCAL_DEFAULTS[k]]))).toEqual(shared)
  })

  it.each([...routes, ...queueConsumers, ...scheduledTasks].map((e) => [e.id, e] as const))(
    '%s has the timeout and memory of its table entry',
    (id, entry) => {
      const { timeoutSeconds, memoryMb } = functionSettings(entry)
      expect(functions[id]?.properties).toMatchObject({ Timeout: timeoutSeconds, MemorySize: memoryMb })
    },
  )

  it('orders the timings: a claim outlives its worker, a file is re-published only after its message would reappear', () => {
    const shared = pipelineEnvironment()
    const hashTimeout = functions.HashFile?.properties.Timeout
    expect(Number(shared.STALE_CLAIM_SECONDS)).toBeGreaterThan(hashTimeout)
    expect(Number(shared.STUCK_AFTER_SECONDS)).toBeGreaterThan(visibilityTimeoutSeconds('files'))
    expect(Number(shared.EAGER_PUBLISH_LEASE_SECONDS)).toBeGreaterThanOrEqual(functions.ConfirmUploads?.properties.Timeout)
    expect(Number(shared.MAX_RECEIVE_COUNT)).toBe(queues.find((q) => q.name === 'files')!.maxReceiveCount)
  })

  it('gives the hash function the memory a batch of ranged reads needs, and the time to hand a large file on', () => {
    const hash = functions.HashFile?.properties
    expect(hash.MemorySize).toBeGreaterThanOrEqual(hashMemoryFloorMb())
    // The floor assumes the default window, and the budget comes from the Lambda context: the stack sets neither.
    for (const name of ['HASH_RANGE_BYTES', 'HASH_READ_CONCURRENCY', 'HASH_INVOCATION_BUDGET_MS']) {
      expect(hash.Environment.Variables).not.toHaveProperty(name)
    }
    // The hand-off reserve is a share of this timeout, and a claim handed on or abandoned outlives it.
    expect(HANDOFF_RESERVE_MS).toBe((hash.Timeout * 1000) / 10)
    expect(Number(pipelineEnvironment().STALE_CLAIM_SECONDS)).toBeGreaterThan(hash.Timeout)
  })

  it('passes configured tunables through and leaves the others to the config defaults', () => {
    const { template: tuned } = synthStack({ tunables: { maxFileSize: 1024, allowedContentTypes: ['text/plain', 'image/png'] } })
    const variables = appFunctions(tuned).PresignUpload?.properties.Environment.Variables
    expect(variables).toMatchObject({ MAX_FILE_SIZE: '1024', ALLOWED_CONTENT_TYPES: 'text/plain,image/png' })
    expect(variables).not.toHaveProperty('UPLOAD_URL_TTL_SECONDS')
  })
})

describe('least privilege', () => {
  const actionsOf = (id: string) => new Set(functions[id]?.statements.map((s) => s.action))
  const bucketWriters = ['PresignUpload', 'ConfirmUploads', 'SignParts']
  const bucketReaders = ['ConfirmUploads', 'GetFile', 'HashFile']
  const bucketDeleters = ['DeleteFile', 'SweepFiles']
  // DeleteFile and ApplyScanResult queue the webhook deliveries of the events they publish right after their commit.
  const queueSenders = ['ConfirmUploads', 'HashFile', 'DeleteFile', 'ApplyScanResult', 'RelayOutbox', 'SweepFiles', 'SendWebhooks', 'RecordWebhookResults']
  // Every function that makes a final transition publishes its event; the relay and the sweeper catch up on the rest.
  const busWriters = ['HashFile', 'DeleteFile', 'ApplyScanResult', 'RelayOutbox', 'SweepFiles']

  it.each(Object.keys(entries))('%s has only the bucket and queue actions its job needs', (id) => {
    const actions = actionsOf(id)
    expect(actions.has('s3:PutObject')).toBe(bucketWriters.includes(id))
    expect(actions.has('s3:GetObject')).toBe(bucketReaders.includes(id))
    // Reads of a confirmed file name its version (the bytes served are the bytes hashed).
    expect(actions.has('s3:GetObjectVersion')).toBe(bucketReaders.includes(id))
    expect(actions.has('s3:DeleteObject')).toBe(bucketDeleters.includes(id))
    expect(actions.has('sqs:SendMessage')).toBe(queueSenders.includes(id))
    expect(actions.has('events:PutEvents')).toBe(busWriters.includes(id))
    expect([...actions].filter((a) => a.includes('*'))).toEqual([])
  })

  it('lets only the hash function consume the queue', () => {
    const consumers = Object.keys(entries).filter((id) => actionsOf(id).has('sqs:DeleteMessage'))
    expect(consumers).toEqual(queueConsumers.map((c) => c.id))
  })

  it.each(Object.keys(entries))('%s connects to the database through the proxy with IAM, unless it runs outside the VPC', (id) => {
    const connect = functions[id]?.statements.find((s) => s.action === 'rds-db:connect')
    if (OUTSIDE_VPC.includes(id)) expect(connect).toBeUndefined()
    else expect(JSON.stringify(connect?.resource)).toContain('/uploads_admin')
  })

  it('opens the cache only to the functions that use it', () => {
    const ingress = Object.values(template().findResources('AWS::EC2::SecurityGroupIngress'))
    const cacheClients = ingress
      .filter((r) => r.Properties.GroupId['Fn::GetAtt']?.[0] === 'DataCacheSecurityGroup3936E122')
      .map((r) => /\/Api\/(\w+) to Cache$/.exec(r.Properties.Description)?.[1])
      .sort()
    expect(cacheClients).toEqual(['DeleteFile', 'GetFile', 'HashFile', 'Health', 'PresignUpload', 'SweepFiles'])
  })
})

describe('the queues', () => {
  it.each(queues.map((q) => [q.name, q] as const))('%s queue has the settings LocalStack is provisioned with', (name, settings) => {
    const local = localQueueAttributes(settings, {}, 'arn:dlq')
    const id = (suffix: string) => logicalIdsOf(template(), 'AWS::SQS::Queue').find((l) => l.startsWith(`Data${queueId(name)}${suffix}`))!
    const queue = template().toJSON().Resources[id('Queue')].Properties
    expect(queue.VisibilityTimeout).toBe(Number(local.queue.VisibilityTimeout))
    expect(queue.MessageRetentionPeriod).toBe(Number(local.queue.MessageRetentionPeriod))
    expect(queue.RedrivePolicy.maxReceiveCount).toBe(JSON.parse(local.queue.RedrivePolicy!).maxReceiveCount)
    const dlq = template().toJSON().Resources[id('DeadLetterQueue')].Properties
    expect(dlq.MessageRetentionPeriod).toBe(Number(local.deadLetterQueue.MessageRetentionPeriod))
  })
})

describe('the files queue', () => {
  it('redrives to the dead-letter queue after 5 receives', () => {
    template().hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: arnOf(DEAD_LETTER_QUEUE), maxReceiveCount: 5 },
    })
  })

  it('hides a message for at least six times the hash timeout', () => {
    const visibility = template().toJSON().Resources[FILES_QUEUE].Properties.VisibilityTimeout
    const hashTimeout = functions.HashFile?.properties.Timeout
    expect(hashTimeout).toBe(queueConsumers[0].timeoutSeconds)
    expect(visibility).toBeGreaterThanOrEqual(6 * hashTimeout)
  })

  it('feeds the hash function in batches with partial batch responses', () => {
    const consumer = queueConsumers[0]
    template().hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: arnOf(FILES_QUEUE),
      FunctionName: ref(functions.HashFile?.logicalId ?? 'missing'),
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: consumer.batchSize,
      MaximumBatchingWindowInSeconds: consumer.maxBatchingWindowSeconds,
      ScalingConfig: { MaximumConcurrency: consumer.maxConcurrency },
    })
  })

  it.each([FILES_QUEUE, DEAD_LETTER_QUEUE])('%s is encrypted and TLS-only', (logicalId) => {
    expect(template().toJSON().Resources[logicalId].Properties.SqsManagedSseEnabled).toBe(true)
    template().hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [ref(logicalId)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    })
  })
})

describe('the bucket', () => {
  it('is encrypted, versioned and not public', () => {
    template().hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: { DestinationBucketName: ref('DataAccessLogsBucketC3B60382') },
    })
  })

  it('refuses requests without TLS 1.2', () => {
    template().hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref(FILES_BUCKET),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    })
  })

  it('accepts browser POSTs and part PUTs from the configured origins and the site, and exposes ETag, as LocalStack is provisioned', () => {
    const [local] = corsRules([...testProps.corsOrigins, SITE_ORIGIN] as string[])
    template().hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: {
        CorsRules: [
          {
            AllowedOrigins: local!.AllowedOrigins,
            AllowedMethods: local!.AllowedMethods,
            AllowedHeaders: local!.AllowedHeaders,
            ExposedHeaders: local!.ExposeHeaders,
            MaxAge: local!.MaxAgeSeconds,
          },
        ],
      },
    })
    expect(local!.AllowedMethods).toEqual(expect.arrayContaining(['POST', 'PUT']))
    expect(local!.ExposeHeaders).toContain('ETag')
  })

  it('aborts an abandoned multipart upload only once the window the functions sign its parts in has passed', () => {
    const rules = template().toJSON().Resources[FILES_BUCKET].Properties.LifecycleConfiguration.Rules
    const abort = rules.find((r: Json) => r.AbortIncompleteMultipartUpload)
    expect(abort).toMatchObject({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: multipartAbortDays() } })
    expect(abort.Prefix ?? abort.Filter).toBeUndefined()
    for (const id of Object.keys(entries)) {
      expect(functions[id]?.properties.Environment.Variables.MULTIPART_UPLOAD_TTL_SECONDS).toBe(String(MULTIPART_UPLOAD_TTL_SECONDS))
    }
    expect(abort.AbortIncompleteMultipartUpload.DaysAfterInitiation * 24 * 3600).toBeGreaterThanOrEqual(MULTIPART_UPLOAD_TTL_SECONDS)
    expect(LOCAL_DEFAULTS.MULTIPART_UPLOAD_TTL_SECONDS).toBe(String(MULTIPART_UPLOAD_TTL_SECONDS))
  })

  it.each([
    [86_400, 1],
    [86_401, 2],
    [3_600, 1],
    [7 * 86_400, 7],
  ])('rounds a multipart window of %i s up to %i lifecycle day(s), so storage never aborts first', (ttl, days) => {
    expect(multipartAbortDays(ttl)).toBe(days)
  })

  // A file is served from its confirmed version (files.version_id), which an overwrite or a plain DELETE turns
  // noncurrent: any expiration of noncurrent versions would take the served bytes away and downloads would 404.
  it('never expires a noncurrent version, so the version a file was confirmed with stays readable', () => {
    const rules: Json[] = template().toJSON().Resources[FILES_BUCKET].Properties.LifecycleConfiguration.Rules
    expect(rules.map((r) => r.Id)).toEqual(['AbortIncompleteMultipartUploads'])
    for (const rule of rules) {
      expect(rule).not.toHaveProperty('NoncurrentVersionExpiration')
      expect(rule).not.toHaveProperty('NoncurrentVersionExpirationInDays')
      expect(rule).not.toHaveProperty('NoncurrentVersionTransitions')
      expect(rule).not.toHaveProperty('ExpirationInDays')
      expect(rule).not.toHaveProperty('ExpirationDate')
    }
  })
})

describe('the database and cache', () => {
  it('runs Aurora Serverless v2 Postgres, encrypted, protected and IAM-enabled', () => {
    template().hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      StorageEncrypted: true,
      DeletionProtection: true,
      EnableIAMDatabaseAuthentication: true,
      EnableHttpEndpoint: true,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
    })
  })

  it('is reached through RDS Proxy with IAM auth and TLS, the proxy holding the secret', () => {
    template().hasResourceProperties('AWS::RDS::DBProxy', {
      EngineFamily: 'POSTGRESQL',
      RequireTLS: true,
      Auth: [Match.objectLike({ IAMAuth: 'REQUIRED', SecretArn: ref(single('AWS::SecretsManager::SecretTargetAttachment')) })],
    })
  })

  it('rotates the database secret', () => {
    template().hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
    })
  })

  it('caches in ElastiCache Serverless Valkey inside the VPC', () => {
    template().hasResourceProperties('AWS::ElastiCache::ServerlessCache', {
      Engine: 'valkey',
      SecurityGroupIds: [{ 'Fn::GetAtt': ['DataCacheSecurityGroup3936E122', 'GroupId'] }],
    })
  })
})

describe('stateful resources', () => {
  // Renaming a construct on the path to any of these replaces the resource and loses its data. A change here
  // must be deliberate (and planned as a migration), never a side effect of a refactor.
  it('keep their logical ids', () => {
    expect({
      buckets: logicalIdsOf(template(), 'AWS::S3::Bucket'),
      queues: logicalIdsOf(template(), 'AWS::SQS::Queue'),
      cluster: logicalIdsOf(template(), 'AWS::RDS::DBCluster'),
      instances: logicalIdsOf(template(), 'AWS::RDS::DBInstance'),
      secret: logicalIdsOf(template(), 'AWS::SecretsManager::Secret'),
      proxy: logicalIdsOf(template(), 'AWS::RDS::DBProxy'),
      cache: logicalIdsOf(template(), 'AWS::ElastiCache::ServerlessCache'),
    }).toEqual({
      buckets: ['DataAccessLogsBucketC3B60382', FILES_BUCKET, 'SiteBucket978D4AEB'],
      queues: [
        DEAD_LETTER_QUEUE,
        FILES_QUEUE,
        SCAN_RESULTS_DEAD_LETTER_QUEUE,
        SCAN_RESULTS_QUEUE,
        'DataWebhookResultsDeadLetterQueue79D5EE30',
        'DataWebhookResultsQueue20B44D00',
        'DataWebhooksDeadLetterQueue24D65DA2',
        'DataWebhooksQueueF8A6D544',
      ].sort(),
      cluster: ['DataDatabaseA9E9E962'],
      instances: ['DataDatabaseReader1BB0E4A90', 'DataDatabaseWriter76FFF88A'],
      secret: ['DataDatabaseSecret0CD5E47D'],
      proxy: ['DataDatabaseDatabaseProxy39D50854'],
      cache: ['DataCache179E637C'],
    })
  })

  it.each([
    [FILES_BUCKET, 'Retain'],
    ['DataAccessLogsBucketC3B60382', 'Retain'],
    [DEAD_LETTER_QUEUE, 'Retain'],
    [FILES_QUEUE, 'Delete'],
    ['DataDatabaseA9E9E962', 'Snapshot'],
    ['DataDatabaseSecret0CD5E47D', 'Retain'],
    ['DataCache179E637C', 'Delete'],
  ])('%s has the removal policy %s', (logicalId, policy) => {
    const resource = template().toJSON().Resources[logicalId]
    expect({ DeletionPolicy: resource.DeletionPolicy, UpdateReplacePolicy: resource.UpdateReplacePolicy }).toEqual({
      DeletionPolicy: policy,
      UpdateReplacePolicy: policy,
    })
  })
})

describe('deployment order', () => {
  it('runs the migrations once the database and proxy are ready', () => {
    const trigger = template().findResources('Custom::Trigger')
    const [dependsOn] = Object.values(trigger).map((t) => t.DependsOn as string[])
    expect(dependsOn).toEqual(
      expect.arrayContaining([
        'DataDatabaseWriter76FFF88A',
        'DataDatabaseDatabaseProxyProxyTargetGroup8D2E1ABD',
        'MigrationsMigrateDatabaseIngress00B37C55AE',
      ]),
    )
  })

  it.each(Object.keys(entries).filter((id) => id !== 'Migrate'))('updates %s only after the migrations ran', (id) => {
    const triggerId = single('Custom::Trigger')
    const fn = template().toJSON().Resources[functions[id]?.logicalId ?? 'missing']
    expect(fn.DependsOn).toContain(triggerId)
  })

  it('creates the API stage only after the migrations ran', () => {
    const stage = template().toJSON().Resources[single('AWS::ApiGatewayV2::Stage')]
    expect(stage.DependsOn).toContain(single('Custom::Trigger'))
  })
})

describe('schedules', () => {
  it.each(scheduledTasks.map((t) => [t.id, t.everySeconds] as const))(
    'runs %s every %i seconds without retries',
    (id, everySeconds) => {
      const minutes = everySeconds / 60
      template().hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: `rate(${minutes} minute${minutes === 1 ? '' : 's'})`,
        Targets: [Match.objectLike({ Arn: arnOf(functions[id]?.logicalId ?? 'missing'), RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }) })],
      })
    },
  )
})

describe('the network', () => {
  it('has no NAT and reaches S3, SQS and Secrets Manager through endpoints', () => {
    template().resourceCountIs('AWS::EC2::NatGateway', 0)
    template().resourceCountIs('AWS::EC2::InternetGateway', 0)
    const services = Object.values(template().findResources('AWS::EC2::VPCEndpoint')).map((e: Json) =>
      JSON.stringify(e.Properties.ServiceName),
    )
    expect(services.join(' ')).toMatch(/\.s3/)
    expect(services.join(' ')).toMatch(/\.sqs/)
    expect(services.join(' ')).toMatch(/\.secretsmanager/)
  })
})

describe('operations', () => {
  const alarms = () => Object.values(template().findResources('AWS::CloudWatch::Alarm')).map((a: Json) => a.Properties)

  const queueLogicalId = (name: string, suffix: 'Queue' | 'DeadLetterQueue') =>
    logicalIdsOf(template(), 'AWS::SQS::Queue').find((l) => new RegExp(`^Data${queueId(name as QueueName)}${suffix}[0-9A-F]{8}$`).test(l))!
  const onQueue = (logicalId: string) => [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId, 'QueueName'] } }]

  it.each(queues.map((q) => q.name))('alarms as soon as a message reaches the %s dead-letter queue', (name) => {
    expect(alarms()).toContainEqual(
      expect.objectContaining({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: onQueue(queueLogicalId(name, 'DeadLetterQueue')),
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
      }),
    )
  })

  it.each(queues.map((q) => [q.name, q] as const))('alarms when the oldest message of the %s queue waits too long', (name, settings) => {
    const threshold = oldestMessageAlarmSeconds(settings)
    expect(alarms()).toContainEqual(
      expect.objectContaining({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: onQueue(queueLogicalId(name, 'Queue')),
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
      }),
    )
    // Not before a message could have been received, failed and become visible again, after any delay it was sent with.
    expect(threshold).toBeGreaterThan(visibilityTimeoutSeconds(name) + ((settings as QueueSettings).maxDelaySeconds ?? 0))
  })

  it('alarms on no queue that lib/settings.ts does not list', () => {
    const alarmed = alarms()
      .filter((a) => a.Namespace === 'AWS/SQS')
      .map((a) => a.Dimensions[0].Value['Fn::GetAtt'][0])
      .sort()
    expect(alarmed).toEqual(logicalIdsOf(template(), 'AWS::SQS::Queue'))
  })

  it('alarms on the outbox age the relay emits, and when the relay stops emitting it', () => {
    expect(alarms()).toContainEqual(
      expect.objectContaining({
        Namespace: 'UploadPipeline',
        MetricName: 'OutboxOldestAgeSeconds',
        Dimensions: [{ Name: 'service', Value: 'upload-pipeline' }],
        TreatMissingData: 'breaching',
      }),
    )
  })

  it.each(Object.keys(entries))('alarms on errors and throttles of %s', (id) => {
    for (const metric of ['Errors', 'Throttles']) {
      expect(alarms()).toContainEqual(
        expect.objectContaining({
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Dimensions: [{ Name: 'FunctionName', Value: ref(functions[id]?.logicalId ?? 'missing') }],
        }),
      )
    }
  })

  it('alarms on failed webhook attempts and disabled endpoints, under the names the recorder emits them', () => {
    for (const [metric, threshold] of [[METRICS.webhookAttemptsFailed, 100], [METRICS.webhookEndpointsDisabled, 0]] as const) {
      expect(alarms()).toContainEqual(
        expect.objectContaining({
          Namespace: METRICS.namespace,
          MetricName: metric,
          Dimensions: [{ Name: 'service', Value: METRICS.serviceName }],
          Statistic: 'Sum',
          Threshold: threshold,
          ComparisonOperator: 'GreaterThanThreshold',
        }),
      )
    }
  })

  it('sends every alarm to the alarm topic', () => {
    const topicId = single('AWS::SNS::Topic')
    for (const alarm of alarms()) expect(alarm.AlarmActions).toEqual([ref(topicId)])
  })

  it('has a dashboard and the outputs ops need', () => {
    template().resourceCountIs('AWS::CloudWatch::Dashboard', 1)
    const outputs = [
      ...['ApiUrl', 'SiteUrl', 'BucketName', 'QueueUrl', 'DlqUrl', 'DatabaseSecretArn', 'DatabaseClusterArn', 'MigrateFunctionName'],
      ...['WebhooksQueueUrl', 'WebhookResultsQueueUrl', 'ScanResultsQueueUrl'],
    ]
    for (const output of outputs) {
      template().hasOutput(output, {})
    }
  })
})

describe('cdk-nag', () => {
  it('finds nothing unacknowledged in the AwsSolutions pack', () => {
    const report = new AwsSolutionsChecks().validateScope(synthesized.stack)
    const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`))
    expect(findings).toEqual([])
  })

  it('leaves no error or warning annotation on the stack', () => {
    const annotations = Annotations.fromStack(synthesized.stack)
    expect(annotations.findError('*', Match.anyValue())).toEqual([])
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([])
  })
})
