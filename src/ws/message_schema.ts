import { z } from "zod";
import { progressSchema, taskSchema } from "../model/task_schema.ts";
import { TASK_STATUSES, type TaskStatus } from "../model/task.ts";

const taskId = z.uuid();

/**
 * Every message the server sends on `/ws/downloads` and `/ws/download/{id}`, one JSON text frame
 * each. Published as JSON Schema at `/ws-messages.schema.json`; the tests check every frame they
 * receive against it.
 */
export const wsMessageSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("summary"),
    task_id: z.null(),
    data: z.object({
      total: z.number().int(),
      queued: z.number().int(),
      running: z.number().int(),
      by_status: z.object(
        Object.fromEntries(TASK_STATUSES.map((s) => [s, z.number().int()])) as Record<
          TaskStatus,
          z.ZodNumber
        >,
      ),
      shown: z.number().int().describe("How many task snapshots follow."),
    }),
  }).describe(
    "First on /ws/downloads: the counts, then a snapshot of the newest and running tasks.",
  ),
  z.object({ type: z.literal("status"), task_id: taskId, data: taskSchema })
    .describe("The whole task record, after any change but progress."),
  z.object({ type: z.literal("progress"), task_id: taskId, data: progressSchema })
    .describe("Progress of a running download, several times a second."),
  z.object({
    type: z.literal("complete"),
    task_id: taskId,
    data: z.object({
      title: z.string().nullable(),
      filename: z.string().nullable(),
      filesize: z.number().nullable(),
      download_url: z.string(),
    }),
  }).describe("The download finished; the file is at `download_url`."),
  z.object({
    type: z.literal("error"),
    task_id: z.string(),
    data: z.object({ code: z.string(), message: z.string() }),
  }).describe("The download failed, or (code `not_found`, then close 4404) no such task."),
  z.object({ type: z.literal("removed"), task_id: z.string(), data: z.object({}) })
    .describe("The task was deleted or expired."),
  z.object({ type: z.literal("pong"), task_id: taskId.nullable(), data: z.object({}) })
    .describe('The answer to a client\'s `{"type":"ping"}`.'),
]);

/** What a client may send: only pings; anything else is ignored, and floods close the socket. */
export const wsClientMessageSchema = z.object({ type: z.literal("ping") });
