import assert from "node:assert/strict";
import { createLogger, type LogLevel } from "./logger.ts";

function capture(format: "json" | "pretty") {
  const lines: { line: string; level: LogLevel }[] = [];
  const logger = createLogger({
    format,
    write: (line, level) => lines.push({ line, level }),
    now: () => Date.UTC(2026, 10, 30, 7, 0, 0),
  });
  return { logger, lines };
}

Deno.test("json: one parseable line per event, with the ids and the context of `with`", () => {
  const { logger, lines } = capture("json");
  const request = logger.with({ request_id: "r-1" });
  request.info("task submitted", { task_id: "t-1", title: "줄\n바꿈" });
  request.error("failed", { error: new TypeError("boom") });
  assert.equal(lines.length, 2);
  assert.ok(lines.every(({ line }) => !line.includes("\n")));
  const first = JSON.parse(lines[0].line);
  assert.deepEqual(first, {
    time: "2026-11-30T07:00:00.000Z",
    level: "info",
    msg: "task submitted",
    request_id: "r-1",
    task_id: "t-1",
    title: "줄\n바꿈",
  });
  const second = JSON.parse(lines[1].line);
  assert.equal(lines[1].level, "error");
  assert.equal(second.error.name, "TypeError");
  assert.equal(second.error.message, "boom");
  assert.match(second.error.stack, /logger_test/);
});

Deno.test("json: fields cannot overwrite time, level or msg; cycles do not lose the event", () => {
  const { logger, lines } = capture("json");
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  logger.warn("kept", { level: "info", msg: "forged", time: "yesterday" });
  logger.info("still logged", { cycle });
  const forged = JSON.parse(lines[0].line);
  assert.equal(forged.level, "warn");
  assert.equal(forged.msg, "kept");
  assert.equal(forged.time, "2026-11-30T07:00:00.000Z");
  assert.equal(JSON.parse(lines[1].line).msg, "still logged");
});

Deno.test("pretty: one line per event even for messages, titles and stacks with newlines", () => {
  const { logger, lines } = capture("pretty");
  logger.info("line one\nline two", { task_id: "t-1", title: "a b", n: 3 });
  logger.error("crash", { error: new Error("x\ny") });
  assert.ok(lines.every(({ line }) => !line.includes("\n")));
  assert.equal(
    lines[0].line,
    '2026-11-30T07:00:00.000Z INFO  line one ⏎ line two task_id=t-1 title="a b" n=3',
  );
  assert.match(lines[1].line, /^\S+ ERROR crash error="Error: x\\ny" stack="Error: x\\ny\\n/);
});
