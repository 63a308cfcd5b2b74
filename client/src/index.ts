export { UploadClient, type ApiResponse, type ClientOptions, type ListQuery, type RequestOptions, type RetryMode } from './client.js'
export { poll, type PollOptions } from './poll.js'
export { postForm, type UploadOptions } from './upload.js'
export { blobSource, partLength, uploadParts, type PartSource, type PartsApi, type UploadPartsOptions, type UploadPartsResult } from './multipart.js'
export { ApiError, NetworkError, PartUploadError, SettleTimeoutError, StorageError } from './errors.js'
export {
  backoffDelay,
  fetchWithRetry,
  HttpStatusError,
  isNetworkError,
  isNeverSentError,
  isRetryable,
  isRetryableStatus,
  retry,
  retryAfterDelay,
  retryAfterMs,
  type RetryInfo,
  type RetryOptions,
  type RetryReason,
} from './retry.js'
export * from './types.js'
