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

/** A small deterministic generator, so a failing sequence can be replayed from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("property: any sequence of plans and reports gives finite, bounded, never-falling figures", () => {
  for (let seed = 1; seed <= 400; seed++) {
    const next = random(seed);
    const pick = <T>(items: T[]): T => items[Math.floor(next() * items.length)];
    const maybe = <T>(value: T) => (next() < 0.25 ? null : value);
    const tracker = new ProgressTracker(next() < 0.5);
    const ids = ["0", "1", "hls-NaN", "x"];
    let last = -1;
    for (let step = 0; step < 60; step++) {
      if (next() < 0.1) {
        tracker.plan(Array.from({ length: 1 + Math.floor(next() * 3) }, () => ({
          format_id: pick(ids),
          size: maybe(pick([0, 1, 1000, 5_000_000])),
          tbr: maybe(pick([0, 64, 2500])),
        })));
        continue;
      }
      const progress = tracker.update({
        kind: "progress",
        status: pick(["downloading", "downloading", "downloading", "finished", "error"] as const),
        format_id: maybe(pick(ids)),
        downloaded_bytes: maybe(Math.floor(next() * 6_000_000)),
        total_bytes: maybe(pick([0, 1000, 5_000_000, Math.floor(next() * 6_000_000)])),
        total_bytes_estimate: maybe(Math.floor(next() * 6_000_000)),
        speed: maybe(next() * 1e6),
        eta: maybe(Math.floor(next() * 100)),
        fragment_index: maybe(Math.floor(next() * 12)),
        fragment_count: maybe(pick([0, 1, 10])),
      });
      for (const [key, value] of Object.entries(progress)) {
        assert.ok(!Number.isNaN(value), `seed ${seed} step ${step}: ${key} is NaN`);
      }
      const pct = progress.percentage;
      if (pct === null) continue;
      assert.ok(Number.isFinite(pct) && pct >= 0 && pct <= 100, `seed ${seed}: ${pct}`);
      assert.ok(pct >= last, `seed ${seed} step ${step}: went back from ${last} to ${pct}`);
      last = pct;
    }
    assert.equal(tracker.complete(null).percentage, 100);
  }
});

Deno.test("planned sizes of 0 fall back to equal weights instead of NaN for good", () => {
  const tracker = new ProgressTracker(false);
  tracker.plan([{ format_id: "v", size: 0, tbr: null }, { format_id: "a", size: 0, tbr: null }]);
  const report = (format_id: string, downloaded: number) =>
    tracker.update({
      kind: "progress",
      status: "downloading",
      format_id,
      downloaded_bytes: downloaded,
      total_bytes: 1000,
      total_bytes_estimate: null,
      speed: null,
      eta: null,
      fragment_index: null,
      fragment_count: null,
    }).percentage;
  // Two streams mean a merge follows, so 5% is held back for it.
  assert.equal(report("v", 500), 23.8);
  assert.equal(report("v", 1000), 47.5);
  assert.equal(report("a", 1000), 95);
});
