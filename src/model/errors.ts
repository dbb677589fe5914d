/** Raised for a task id the service does not know (or no longer knows). */
export class TaskNotFoundError extends Error {
  override name = "TaskNotFoundError";
  constructor(readonly taskId: string) {
    super(`no task with id '${taskId}'`);
  }
}

/** Raised when a task exists but is not in a state that allows the request. */
export class TaskStateError extends Error {
  override name = "TaskStateError";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Raised by the HTTP layer for a request it cannot read; carries its own status. */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(
    readonly status: 400 | 403 | 404 | 413 | 415 | 421 | 422,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
