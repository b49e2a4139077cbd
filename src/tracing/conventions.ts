/**
 * The span attributes aether-tasks sets, named as the OpenTelemetry semantic conventions for
 * messaging spell them (semantic-conventions 1.45: `messaging.system.name`,
 * `messaging.operation.type`, …), plus a few of our own under `aether_tasks.`. Spans only: no
 * id is ever a metric label.
 * @module
 */

/** `messaging.system.name` of every span: this system. */
export const MESSAGING_SYSTEM = "aether-tasks";

/** The attribute names. */
export const TracingAttributes = {
  /** Always {@linkcode MESSAGING_SYSTEM}. */
  SYSTEM: "messaging.system.name",
  /** `send` (enqueue) or `process` (an attempt). */
  OPERATION_TYPE: "messaging.operation.type",
  /** The same words as the type: `send`, `process`. */
  OPERATION_NAME: "messaging.operation.name",
  /** The queue. */
  DESTINATION: "messaging.destination.name",
  /** The task id (one task per span; left out of a batch enqueue's span). */
  MESSAGE_ID: "messaging.message.id",
  /** How many tasks a batch enqueue wrote (`enqueueMany` of two or more). */
  BATCH_COUNT: "messaging.batch.message_count",
  /** The id of the worker running the attempt. */
  CLIENT_ID: "messaging.client.id",
  /** The class of the error an attempt failed with (`TypeError`, `AttemptAborted`, …). */
  ERROR_TYPE: "error.type",
  /** The task name. */
  TASK_NAME: "aether_tasks.task.name",
  /** The attempt, 1 for the first. */
  ATTEMPT: "aether_tasks.task.attempt",
  /** The task's attempt budget. */
  MAX_ATTEMPTS: "aether_tasks.task.max_attempts",
  /**
   * How the attempt ended: `completed`, `retry`, `failed`, `cancelled`, `released` or
   * `lease_lost`.
   */
  OUTCOME: "aether_tasks.outcome",
  /** On a send span: the enqueue matched a stored unique task instead of writing one. */
  DUPLICATE: "aether_tasks.duplicate",
  /** On a send span of a schedule's slot: the schedule id. */
  SCHEDULE_ID: "aether_tasks.schedule.id",
} as const;

/** The event a process span gets when its attempt will be retried. */
export const RETRY_EVENT = "aether_tasks.retry";
/** The attribute of {@linkcode RETRY_EVENT}: when the next attempt is due (epoch ms). */
export const RETRY_AT_ATTRIBUTE = "aether_tasks.retry.run_at";
