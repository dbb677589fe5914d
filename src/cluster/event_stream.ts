import type { Redis } from "ioredis";
import { z } from "zod";
import type { TaskEvent } from "../downloads/manager.ts";
import { storedTask, storedTaskSchema } from "../model/task_schema.ts";

const STREAM_KEY = "ytdl:events";
/** Roughly how many events the stream keeps; a node reads from where it loaded the records. */
const STREAM_LENGTH = 100_000;

const envelopeSchema = z.union([
  z.object({ type: z.enum(["status", "progress", "complete", "error"]), task: storedTaskSchema }),
  z.object({ type: z.literal("removed"), taskId: z.string().min(1).max(100) }),
]);

/**
 * Every task event of a cluster, published once into one Redis stream: each node appends the
 * changes it makes and follows the stream, so that every API node fans out the same events in the
 * same order, and a node's copy of the records follows the others'.
 */
export class RedisEventStream {
  readonly #redis: Redis;
  readonly #nodeId: string;
  readonly #log: (message: string, fields?: Record<string, unknown>) => void;

  constructor(
    redis: Redis,
    nodeId: string,
    log: (message: string, fields?: Record<string, unknown>) => void,
  ) {
    this.#redis = redis;
    this.#nodeId = nodeId;
    this.#log = log;
  }

  /** Publishes one event made on this node; commands on one connection keep their order. */
  append(event: TaskEvent): void {
    const body = event.type === "removed"
      ? { type: event.type, taskId: event.taskId }
      : { type: event.type, task: storedTask(event.task) };
    this.#redis.xadd(
      STREAM_KEY,
      "MAXLEN",
      "~",
      STREAM_LENGTH,
      "*",
      "o",
      this.#nodeId,
      "e",
      JSON.stringify(body),
    ).catch((error: Error) => this.#log("could not publish a task event", { error }));
  }

  /** Where the stream ends now: read it before loading the records, then follow from there. */
  async position(): Promise<string> {
    const last = await this.#redis.xrevrange(STREAM_KEY, "+", "-", "COUNT", 1);
    return last[0]?.[0] ?? "0-0";
  }

  /**
   * Hands every event after `from` to `onEvent`, in stream order, with whether this node made it
   * and its position in the stream, until `signal` aborts; a Redis outage only pauses it.
   */
  async follow(
    from: string,
    onEvent: (event: TaskEvent, own: boolean, position: string) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const reader = this.#redis.duplicate();
    const stop = () => reader.disconnect();
    signal.addEventListener("abort", stop, { once: true });
    let last = from;
    try {
      while (!signal.aborted) {
        let batch: [string, [string, string[]][]][] | null;
        try {
          batch = await reader.xread("COUNT", 1000, "BLOCK", 5000, "STREAMS", STREAM_KEY, last) as
            | [string, [string, string[]][]][]
            | null;
        } catch (error) {
          if (signal.aborted) return;
          this.#log("reading task events failed; trying again", { error });
          await new Promise((resolve) => setTimeout(resolve, 500));
          continue;
        }
        for (const [, entries] of batch ?? []) {
          for (const [id, fields] of entries) {
            last = id;
            const event = this.#parse(fields);
            if (event === null) continue;
            try {
              onEvent(event, fields[fields.indexOf("o") + 1] === this.#nodeId, id);
            } catch (error) {
              this.#log("a task event could not be applied", { error });
            }
          }
        }
      }
    } finally {
      signal.removeEventListener("abort", stop);
      reader.disconnect();
    }
  }

  #parse(fields: string[]): TaskEvent | null {
    const at = fields.indexOf("e");
    try {
      const parsed = envelopeSchema.safeParse(JSON.parse(fields[at + 1] ?? ""));
      if (!parsed.success) throw parsed.error;
      const body = parsed.data;
      return body.type === "removed"
        ? { type: "removed", taskId: body.taskId }
        : { type: body.type, task: body.task.task };
    } catch (error) {
      this.#log("ignored a malformed task event", { error: String(error) });
      return null;
    }
  }
}
