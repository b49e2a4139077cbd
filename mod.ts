/**
 * aether-tasks: a persistent background task queue for Bun and Deno.
 *
 * @example
 * ```ts
 * import * as v from "valibot";
 * import { SqliteTaskStore, TaskDispatcher, TaskRegistry, TaskWorker } from "./mod.ts";
 *
 * const registry = new TaskRegistry();
 * registry.register("greet", ({ name }) => `hello ${name}`, { schema: v.object({ name: v.string() }) });
 * const store = await SqliteTaskStore.open("./data/tasks.db");
 * await store.migrate();
 * const worker = new TaskWorker(store, { registry });
 * worker.start();
 * const dispatcher = new TaskDispatcher(store, { registry });
 * const id = await dispatcher.enqueue("greet", { name: "Ada" });
 * console.log((await dispatcher.waitFor(id)).result); // "hello Ada"
 * await worker.stop();
 * await store.close();
 * ```
 * @module
 */

export {
  type AdminConnection,
  type AdminEnv,
  type AdminHandler,
  type AdminHandlerOptions,
  createAdminHandler,
  DEFAULT_BODY_TIMEOUT_MILLIS,
  DEFAULT_MAX_ADMIN_LIST_LIMIT,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_EVENT_STREAMS,
  DEFAULT_MAX_WAIT_MILLIS,
  MIN_ADMIN_TOKEN_LENGTH,
} from "./src/admin/handler.ts";
export { type AdminRoute } from "./src/admin/app.ts";
export { HttpError } from "./src/admin/_http.ts";
export { type PoolStats } from "./src/admin/metrics.ts";
export {
  ADMIN_ALLOWED_HOSTS_ENV,
  ADMIN_TOKEN_ENV,
  AdminPortInUseError,
  AdminServer,
  type AdminServerOptions,
  DEFAULT_ADMIN_HOST,
  DEFAULT_ADMIN_PORT,
  parseAdminAddress,
} from "./src/admin/server.ts";
export { type Clock, systemClock } from "./src/clock.ts";
export {
  BULK_BATCH,
  DEFAULT_LIST_LIMIT,
  DEFAULT_WAIT_POLL_MILLIS,
  type DispatcherStats,
  type EnqueueOptions,
  type EnqueueRequest,
  enqueueRequest,
  type EnqueueResult,
  type EnqueueTransaction,
  MAX_LIST_LIMIT,
  type ScheduleInfo,
  TaskDispatcher,
  type TaskDispatcherOptions,
  type TypedEnqueueRequest,
  type WaitOptions,
} from "./src/dispatcher.ts";
export {
  EnqueueInputError,
  MAX_DELAY_MILLIS,
  MAX_NAME_LENGTH,
  MAX_TIMEOUT_MILLIS,
  type ParsedEnqueueOptions,
  type ParsedEnqueueRequest,
  parseEnqueueOptions,
  parseEnqueueRequest,
} from "./src/enqueue_input.ts";
export {
  AmbiguousIdError,
  type ArgumentIssue,
  IllegalTransitionError,
  InvalidArgumentsError,
  InvalidCursorError,
  isPermanentError,
  PermanentError,
  SchemaVersionError,
  StorageFullError,
  StoreConnectionError,
  TaskNotFoundError,
  UnknownTaskError,
  WaitTimeoutError,
} from "./src/errors.ts";
export {
  type AbortCause,
  AttemptAborted,
  type AttemptControl,
  type AttemptResult,
  InProcessExecutor,
  type TaskExecutor,
} from "./src/executor.ts";
export { captureConsoleOutput } from "./src/console_capture.ts";
export { LOG_CATEGORY } from "./src/log.ts";
export { defineTask, type TaskSpec } from "./src/handlers/define.ts";
export { HandlerLoadError, loadHandlers } from "./src/handlers/load.ts";
export { type JsonValue, MAX_JSON_BYTES, MAX_JSON_DEPTH } from "./src/json.ts";
export {
  type LongTimer,
  MAX_TIMER_CHUNK_MILLIS,
  setLongInterval,
  setLongTimeout,
} from "./src/long_timer.ts";
export {
  DEFAULT_ABORT_GRACE_MILLIS,
  DEFAULT_MAX_HEAP_MEGABYTES,
  DEFAULT_POISON_THRESHOLD,
  DEFAULT_RECYCLE_AFTER,
  defaultPoolSize,
  POOL_ENTRY_POINTS,
  WorkerPool,
  type WorkerPoolOptions,
  type WorkerPoolStats,
} from "./src/pool/pool.ts";
export {
  type ArgsSchema,
  DEFAULT_QUEUE,
  DEFAULT_TIMEOUT_MILLIS,
  defaultRegistry,
  type TaskContext,
  type TaskDefinition,
  type TaskHandler,
  type TaskOptions,
  TaskRegistry,
} from "./src/registry.ts";
export { LeaseRescuer, RESCUE_BATCH } from "./src/rescuer.ts";
export {
  DEFAULT_REMOTE_POLL_MILLIS,
  DEFAULT_REPLAY_MEMORY,
  type DeregisterInput,
  type FetchInput,
  type HeartbeatInput,
  type HeartbeatResult,
  type LeaseInput,
  type OutcomeInput,
  type OutcomeResult,
  type RegisterInput,
  type Registration,
  type RemoteTask,
  RemoteWorkerProtocol,
  type RemoteWorkerProtocolOptions,
  UnknownWorkerError,
} from "./src/remote/protocol.ts";
export { type RemoteEndpointOptions } from "./src/remote/endpoint.ts";
export { remoteRoutes, type RemoteRoutesDeps } from "./src/remote/routes.ts";
export { API_ROUTES, type ApiRoute, openApiDocument } from "./src/remote/openapi.ts";
export { mergeTaskTypes, registryTaskTypes, type TaskType } from "./src/remote/task_types.ts";
export {
  MAX_BATCH,
  MAX_FETCH,
  MAX_FETCH_WAIT_MILLIS,
  MAX_REMOTE_CONCURRENCY,
  MAX_REMOTE_LEASE_MILLIS,
  MIN_REMOTE_LEASE_MILLIS,
} from "./src/remote/limits.ts";
export {
  DEFAULT_LEADER_TTL_MILLIS,
  LeaderElector,
  type LeaderElectorOptions,
  type LeadershipEvent,
  MAINTENANCE_LEADERSHIP,
} from "./src/leader.ts";
export {
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_HEARTBEAT_TIMEOUT,
  type WorkerGoneEvent,
  WorkerHeartbeat,
  type WorkerHeartbeatOptions,
} from "./src/heartbeat.ts";
export { type FlowLimitOptions, parseRateLimit, type RateLimitOptions } from "./src/flow_limits.ts";
export {
  DEFAULT_PRUNE_BATCH,
  DEFAULT_PRUNE_INTERVAL_MILLIS,
  DEFAULT_RETENTION,
  parseRetention,
  Pruner,
  type PrunerOptions,
  type Retention,
} from "./src/pruner.ts";
export {
  DEFAULT_CATCH_UP_WINDOW_MILLIS,
  MAX_CATCH_UP_SLOTS,
  nextFireTimes,
  type ScheduleOptions,
  SLOT_GRACE_MILLIS,
} from "./src/schedule.ts";
export {
  DEFAULT_SCHEDULE_REFRESH_MILLIS,
  Scheduler,
  type SchedulerOptions,
  type SchedulerPass,
} from "./src/scheduler.ts";
export { DEFAULT_UNIQUE_BY, type UniqueField, type UniqueOptions } from "./src/unique.ts";
export {
  backoffDelay,
  type BackoffFunction,
  DEFAULT_RETRY_CONFIG,
  MAX_ATTEMPTS,
  MAX_BACKOFF_DELAY_MILLIS,
  MAX_BACKOFF_MULTIPLIER,
  nominalBackoff,
  type RetryConfig,
} from "./src/retry.ts";
export {
  defaultSignals,
  type LeaseLostEvent,
  Signal,
  type TaskEvent,
  type TaskFailedEvent,
  type TaskProgressEvent,
  type TaskRetryingEvent,
  TaskSignals,
} from "./src/signals.ts";
export { InMemoryTaskStore } from "./src/store/memory.ts";
export {
  DEFAULT_SQLITE_BUSY_TIMEOUT_MILLIS,
  DEFAULT_SQLITE_DURABILITY,
  type SqliteDurability,
  type SqliteStoreOptions,
  SqliteTaskStore,
  SqliteTransaction,
} from "./src/store/sqlite/store.ts";
export { DataVersionNotifier } from "./src/store/sqlite/notifier.ts";
export { DEFAULT_WAL_LIMIT_BYTES } from "./src/store/sqlite/wal_keeper.ts";
export {
  DEFAULT_PG_CLOCK,
  DEFAULT_PG_CONNECT_TIMEOUT_SECONDS,
  DEFAULT_PG_MAX_CONNECTIONS,
  type PostgresClockMode,
  type PostgresStoreOptions,
  PostgresTaskStore,
} from "./src/store/postgres/store.ts";
export { PostgresNotifier } from "./src/store/postgres/notifier.ts";
export { DEFAULT_PG_SCHEMA, isPostgresUrl, maskPassword } from "./src/store/postgres/url.ts";
export {
  type BulkRequest,
  type CatchUpPolicy,
  type ClaimRequest,
  decodeCursor,
  encodeCursor,
  type FlowLimit,
  type FlowLimits,
  HISTORY_BUCKET_MILLIS,
  type HistoryPoint,
  type InsertOptions,
  type InsertResult,
  type Leadership,
  type LeadRequest,
  type LeaseRef,
  type LeaseRenewal,
  type ListQuery,
  LocalNotifier,
  type NewTask,
  type Notifier,
  type Outcome,
  type OverlapPolicy,
  type ProgressReport,
  type PruneRequest,
  type QueueState,
  type RateLimit,
  type ScheduleInput,
  type ScheduleRecord,
  type SlotRecord,
  type SlotRequest,
  type SlotResult,
  type StatusCounts,
  type StoreEvent,
  type TaskFilter,
  type TaskPage,
  type TaskStats,
  type TaskStore,
  UNIQUE_REQUIRED_STATUSES,
  type WorkerInfo,
} from "./src/store/store.ts";

export {
  type AttemptEntry,
  type AttemptEntryOutcome,
  FINAL_STATUSES,
  MAX_ATTEMPT_HISTORY,
  type TaskError,
  TaskPriority,
  type TaskRecord,
  TaskStatus,
} from "./src/task.ts";
export { AsyncLocalContextManager } from "./src/tracing/context_manager.ts";
export {
  MESSAGING_SYSTEM,
  RETRY_AT_ATTRIBUTE,
  RETRY_EVENT,
  TracingAttributes,
} from "./src/tracing/conventions.ts";
export {
  MAX_TRACESTATE_LENGTH,
  type ParsedTraceparent,
  parseTraceparent,
  TRACEPARENT_LENGTH,
} from "./src/tracing/traceparent.ts";
export {
  DEFAULT_CONCURRENCY,
  DEFAULT_GRACE_MILLIS,
  DEFAULT_LEASE_MILLIS,
  DEFAULT_POLL_INTERVAL,
  DEFAULT_RESCUE_INTERVAL,
  TaskWorker,
  type TaskWorkerOptions,
} from "./src/worker.ts";
// Rolling deploys: the task types workers publish in the worker registry.
export {
  type DescribedDefinition,
  describeTaskTypes,
  MAX_ARGS_SCHEMA_BYTES,
  MAX_TASK_TYPES_BYTES,
  type PublishedTaskTypes,
  publishedTaskTypes,
  type TaskTypeInfo,
  taskTypesOf,
} from "./src/task_types.ts";
export { CANCEL_CHECK_MILLIS } from "./src/worker.ts";
export type { NameCount, WaitingByNameRequest } from "./src/store/store.ts";
