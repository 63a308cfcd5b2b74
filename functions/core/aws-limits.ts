/**
 * AWS limits the core works within, in a module with no SDK import, so that code which only needs
 * the number does not load the client (module load is most of a cold start).
 */

/** SendMessageBatch accepts at most 10 entries (SQS API reference, SendMessageBatch). */
export const SQS_MAX_BATCH = 10
