import { DEFAULT_QUEUE_PREFIX, localQueueName, localQueueUrl, METRICS, pipelineEnvironment, queues } from '../../lib/settings.js'

/**
 * The environment the local runtime gives the handlers: the same variables the CDK stack sets on
 * AWS, pointed at LocalStack, Postgres and Redis on this machine. Variables already set win.
 */
export const LOCAL_DEFAULTS: Readonly<Record<string, string>> = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
  S3_FORCE_PATH_STYLE: 'true',
  FILES_BUCKET_NAME: 'upload-pipeline-files',
  QUEUE_NAME_PREFIX: DEFAULT_QUEUE_PREFIX,
  FILES_EVENT_BUS_NAME: 'upload-pipeline-events',
  // Only the local runtime allows this, so a developer's receiver on 127.0.0.1 works; the stack never sets it.
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/upload_pipeline',
  // One pool serves every locally invoked function at once (on AWS each environment has its own).
  DATABASE_POOL_MAX: '20',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
  POWERTOOLS_SERVICE_NAME: METRICS.serviceName,
  POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
  // EMF metrics only mean something to CloudWatch; locally they would flood the log.
  POWERTOOLS_METRICS_DISABLED: 'true',
  // The pinned SDK supports Node 20 (the local runtime); Lambda itself runs Node 24.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  // What the stack sets on every function, from the same source.
  ...pipelineEnvironment(),
}

/**
 * Applies the local defaults, then `overrides`, and points each queue's URL variable at its LocalStack queue
 * (a URL already set wins unless the overrides rename the queues).
 */
export function applyLocalEnvironment(env: NodeJS.ProcessEnv = process.env, overrides: Record<string, string> = {}): void {
  for (const [key, value] of Object.entries({ ...LOCAL_DEFAULTS, ...overrides })) {
    if (env[key] === undefined || key in overrides) env[key] = value
  }
  for (const queue of queues) {
    if (env[queue.urlVariable] === undefined || 'QUEUE_NAME_PREFIX' in overrides) {
      env[queue.urlVariable] = localQueueUrl(env.AWS_ENDPOINT_URL!, localQueueName(env.QUEUE_NAME_PREFIX!, queue.name))
    }
  }
}
