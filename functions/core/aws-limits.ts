/**
 * AWS limits the core works within, in a module with no SDK import, so that code which only needs
 * the number does not load the client (module load is most of a cold start).
 */

/** SendMessageBatch accepts at most 10 entries (SQS API reference, SendMessageBatch). */
export const SQS_MAX_BATCH = 10

/**
 * Amazon S3 multipart upload limits (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html): part
 * numbers 1 to 10,000; every part but the last 5 MiB to 5 GiB; ListParts answers at most 1,000 parts a page.
 */
export const S3_MAX_PARTS = 10_000
export const S3_MIN_PART_SIZE = 5 * 1024 ** 2
export const S3_MAX_PART_SIZE = 5 * 1024 ** 3
/** 10,000 parts of 5 GiB: 48.8 TiB, the object maximum the same page states. */
export const S3_MAX_OBJECT_SIZE = S3_MAX_PARTS * S3_MAX_PART_SIZE
/** A single PUT or POST stores at most 5 GiB; anything larger must be a multipart upload. */
export const S3_MAX_POST_SIZE = 5 * 1024 ** 3
