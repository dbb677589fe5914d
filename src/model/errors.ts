/** Raised for a task id the service does not know (or no longer knows). */
export class TaskNotFoundError extends Error {
  override name = "TaskNotFoundError";
  constructor(readonly taskId: string, message = `no task with id '${taskId}'`) {
    super(message);
  }
}

/** Raised when a task exists but is not in a state that allows the request. */
export class TaskStateError extends Error {
  override name = "TaskStateError";
  constructor(
    readonly code: "no_file" | "file_gone" | "task_active" | "not_retryable" | "shutting_down",
    message: string,
  ) {
    super(message);
  }
}

/** Raised when the service has no room for more work; the caller may try again later. */
export class CapacityError extends Error {
  override name = "CapacityError";
  constructor(
    readonly code: "queue_full" | "insufficient_storage",
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** Raised when a record could not be written, so the request did not take effect. */
export class StorageError extends Error {
  override name = "StorageError";
}

/** Raised by the HTTP layer for a request it cannot read; carries its own status. */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 421 | 422 | 426,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
