/**
 * The single table of HTTP routes and queue consumers. The CDK stack and the local runtime both
 * read it, so a route cannot exist in one and not the other. Plain data: no aws-cdk-lib import.
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface Route {
  readonly id: string
  readonly method: HttpMethod
  /** API Gateway path syntax: `/files/{id}`. */
  readonly path: string
  /** Handler module, relative to the repository root; it exports `handler`. */
  readonly entry: string
  /** Public routes skip the JWT authorizer. */
  readonly public?: boolean
  readonly memoryMb?: number
  readonly timeoutSeconds?: number
}

/** The queues of `lib/settings.ts`; each consumer reads exactly one. */
export type QueueName = 'files' | 'webhooks' | 'webhook-results' | 'scan-results'

export interface QueueConsumer {
  readonly id: string
  readonly queue: QueueName
  /**
   * `internet`: outside the VPC, with no route to the database, the cache or anything private: the
   * webhook sender, which calls arbitrary public URLs. Default: inside the VPC.
   */
  readonly network?: 'vpc' | 'internet'
  readonly entry: string
  readonly batchSize: number
  readonly maxBatchingWindowSeconds: number
  readonly maxConcurrency: number
  readonly timeoutSeconds: number
  readonly memoryMb?: number
}

/** Timeouts and memory not given here are `FUNCTION_DEFAULTS` in `lib/settings.ts`. */
export interface ScheduledTask {
  readonly id: string
  readonly entry: string
  readonly everySeconds: number
  readonly timeoutSeconds: number
}

export const routes = [
  { id: 'PresignUpload', method: 'POST', path: '/files/presigned-upload', entry: 'functions/presign-upload.ts' },
  // Completing a multipart upload can take S3 a while for many parts: up to HTTP API's 30 s integration limit.
  { id: 'ConfirmUploads', method: 'POST', path: '/files/confirm-uploads', entry: 'functions/confirm-uploads.ts', timeoutSeconds: 29 },
  { id: 'ListFiles', method: 'GET', path: '/files', entry: 'functions/list-files.ts' },
  { id: 'GetFile', method: 'GET', path: '/files/{id}', entry: 'functions/get-file.ts', memoryMb: 512 },
  { id: 'DeleteFile', method: 'DELETE', path: '/files/{id}', entry: 'functions/delete-file.ts' },
  { id: 'SignParts', method: 'POST', path: '/files/{id}/parts', entry: 'functions/sign-parts.ts' },
  { id: 'ListParts', method: 'GET', path: '/files/{id}/parts', entry: 'functions/list-parts.ts' },
  { id: 'CreateWebhook', method: 'POST', path: '/webhooks', entry: 'functions/create-webhook.ts' },
  { id: 'ListWebhooks', method: 'GET', path: '/webhooks', entry: 'functions/list-webhooks.ts' },
  { id: 'DeleteWebhook', method: 'DELETE', path: '/webhooks/{id}', entry: 'functions/delete-webhook.ts' },
  { id: 'ListWebhookDeliveries', method: 'GET', path: '/webhooks/{id}/deliveries', entry: 'functions/list-webhook-deliveries.ts' },
  // A new secret, shown once; the old one keeps signing beside it for WEBHOOK_SECRET_GRACE_SECONDS.
  { id: 'RotateWebhookSecret', method: 'POST', path: '/webhooks/{id}/rotate-secret', entry: 'functions/rotate-webhook-secret.ts' },
  // Back in service after 410 Gone or a retry schedule run out disabled it.
  { id: 'EnableWebhook', method: 'POST', path: '/webhooks/{id}/enable', entry: 'functions/enable-webhook.ts' },
  { id: 'Health', method: 'GET', path: '/health', entry: 'functions/health.ts', public: true },
] as const satisfies readonly Route[]

export const queueConsumers = [
  {
    id: 'HashFile',
    queue: 'files',
    entry: 'functions/hash-file.ts',
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    maxConcurrency: 20,
    // Lambda's CPU share grows with memory: at 1,024 MB a batch of ten multi-GiB objects still hashes
    // within the timeout, where 256 MB (about 0.15 vCPU) would need several times longer. The ten records'
    // reads, two windows of 4 x 8 MiB each, fit beside the runtime: hashMemoryFloorMb (lib/settings.ts), 896 MB.
    timeoutSeconds: 300,
    memoryMb: 1024,
  },
  {
    id: 'SendWebhooks',
    queue: 'webhooks',
    entry: 'functions/send-webhooks.ts',
    network: 'internet',
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    maxConcurrency: 10,
    // Ten attempts in parallel, each cut off after 15 s (functions/core/webhooks.ts).
    timeoutSeconds: 30,
  },
  {
    id: 'RecordWebhookResults',
    queue: 'webhook-results',
    entry: 'functions/record-webhook-results.ts',
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    maxConcurrency: 5,
    timeoutSeconds: 30,
  },
  {
    // GuardDuty Malware Protection's verdicts, put on the queue by its rule (lib/constructs/malware-protection.ts).
    id: 'ApplyScanResult',
    queue: 'scan-results',
    entry: 'functions/apply-scan-result.ts',
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    maxConcurrency: 5,
    timeoutSeconds: 30,
  },
] as const satisfies readonly QueueConsumer[]

export const scheduledTasks = [
  { id: 'RelayOutbox', entry: 'functions/relay-outbox.ts', everySeconds: 60, timeoutSeconds: 60 },
  { id: 'SweepFiles', entry: 'functions/sweep-files.ts', everySeconds: 300, timeoutSeconds: 120 },
] as const satisfies readonly ScheduledTask[]
