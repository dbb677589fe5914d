import { Hono } from "hono";
import { RequestError } from "../model/errors.ts";
import type { UpdateAttempt, YtdlpSource } from "../ytdlp/source.ts";

/** Updates and rollbacks of the managed yt-dlp; absent when `YTDLP_PATH` names another one. */
export interface YtdlpControl {
  update(): Promise<UpdateAttempt>;
  rollback(): Promise<UpdateAttempt>;
}

/**
 * `GET /ytdlp`: version, channel, release age, JavaScript runtime, ejs, last update attempt.
 * `POST /ytdlp/update` and `/ytdlp/rollback` answer when done, with the attempt and the new state
 * (an update already under way is joined, not started twice).
 */
export function ytdlpRoutes(source: YtdlpSource, control: YtdlpControl | null): Hono {
  const routes = new Hono();
  const managed = () => {
    if (control === null) {
      throw new RequestError(
        409,
        "not_managed",
        "yt-dlp is the one YTDLP_PATH names; the service does not update it",
      );
    }
    return control;
  };
  routes.get("/ytdlp", (c) => c.json(source.info()));
  routes.post("/ytdlp/update", async (c) => {
    const attempt = await managed().update();
    return c.json({ attempt, ytdlp: source.info() });
  });
  routes.post("/ytdlp/rollback", async (c) => {
    const attempt = await managed().rollback();
    return c.json({ attempt, ytdlp: source.info() });
  });
  return routes;
}
