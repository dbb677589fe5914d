import assert from "node:assert/strict";
import { formatEta, formatSpeed, ProgressTracker } from "./progress_tracker.ts";
import { parseYtdlpLine } from "./output.ts";
import { DASH_2023, DASH_2026, HLS_2026 } from "./testdata_lines.ts";

function replay(lines: string[], processingExpected: boolean): (number | null)[] {
  const tracker = new ProgressTracker(processingExpected);
  const seen: (number | null)[] = [];
  for (const record of lines.flatMap(parseYtdlpLine)) {
    if (record.kind === "info") tracker.plan(record.streams);
    if (record.kind === "progress") seen.push(tracker.update(record).percentage);
  }
  seen.push(tracker.complete(1).percentage);
  return seen;
}

function assertMonotonic(values: (number | null)[]): void {
  const numbers = values.filter((v): v is number => v !== null);
  for (let i = 1; i < numbers.length; i++) {
    assert.ok(numbers[i] >= numbers[i - 1], `went back from ${numbers[i - 1]} to ${numbers[i]}`);
  }
  assert.equal(numbers.at(-1), 100);
  for (const n of numbers) assert.ok(n >= 0 && n <= 100);
}

Deno.test("DASH video then audio gives one percentage that never goes back", () => {
  for (const lines of [DASH_2023, DASH_2026]) {
    const values = replay(lines, false);
    assertMonotonic(values);
    // The audio stream restarts yt-dlp's own figure at 0; ours must not dip there.
    const rawRestart = lines.findIndex((l) => l.includes('{"format_id": "1"}'));
    assert.ok(rawRestart > 0);
    // A merge follows, so the bar waits below 100 until the file is in place.
    assert.ok(values.at(-2)! < 100);
  }
});

Deno.test("HLS fragments with a moving estimated total stay monotonic", () => {
  const values = replay(HLS_2026, false);
  assertMonotonic(values);
  const distinct = new Set(values.filter((v) => v !== null && v < 100));
  assert.ok(distinct.size >= 3, `expected several steps, got ${[...distinct]}`);
});

Deno.test("an unknown total is reported as null, not invented", () => {
  const tracker = new ProgressTracker(false);
  const [record] = parseYtdlpLine(
    '\x1eprogress {"status": "downloading", "downloaded_bytes": 5000, "speed": 1000} {"format_id": "x"}',
  );
  assert.ok(record.kind === "progress");
  const progress = tracker.update(record);
  assert.equal(progress.percentage, null);
  assert.equal(progress.total_bytes, null);
  assert.equal(progress.downloaded_bytes, 5000);
  assert.equal(progress.speed, "1.0 kB/s");
});

Deno.test("speed and eta read like the seed's example", () => {
  assert.equal(formatSpeed(2_500_000), "2.5 MB/s");
  assert.equal(formatSpeed(512), "512 B/s");
  assert.equal(formatSpeed(12_345_678), "12 MB/s");
  assert.equal(formatEta(15), "00:00:15");
  assert.equal(formatEta(3725), "01:02:05");
});
