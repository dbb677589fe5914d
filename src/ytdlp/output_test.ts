import assert from "node:assert/strict";
import { nullNonFinite, parseYtdlpLine, type YtdlpRecord } from "./output.ts";
import { AUDIO_2023, DASH_2023, DASH_2026, HLS_2026 } from "./testdata_lines.ts";

const all = (lines: string[]) => lines.flatMap(parseYtdlpLine);
const kinds = (records: YtdlpRecord[]) => records.map((r) => r.kind);

for (const [name, lines] of [["2023.03.04", DASH_2023], ["2026.10.26", DASH_2026]] as const) {
  Deno.test(`parser reads a ${name} DASH run: plan, two streams of progress, merge, file`, () => {
    const records = all(lines);
    const info = records.find((r) => r.kind === "info");
    assert.deepEqual(info, {
      kind: "info",
      id: "manifest",
      title: "manifest",
      ext: "mp4",
      duration: null,
      streams: [
        { format_id: "0", size: null, tbr: 294.769 },
        { format_id: "1", size: null, tbr: 69.319 },
      ],
    });
    const progress = records.filter((r) => r.kind === "progress");
    assert.deepEqual([...new Set(progress.map((p) => p.format_id))], ["0", "1"]);
    assert.equal(progress.filter((p) => p.status === "finished").length, 2);
    for (const p of progress) {
      for (const value of Object.values(p)) assert.ok(!Number.isNaN(value), "no NaN");
    }
    const pp = records.filter((r) => r.kind === "postprocess");
    assert.deepEqual(pp.map((r) => `${r.status}:${r.postprocessor}`), [
      "started:Merger",
      "finished:Merger",
      "started:MoveFiles",
      "finished:MoveFiles",
    ]);
    assert.deepEqual(records.filter((r) => r.kind === "file"), [
      { kind: "file", path: "/data/tasks/t1/manifest [manifest].mp4" },
    ]);
  });
}

Deno.test("parser reads 2023.03.04 postprocessor records that share one line", () => {
  const line = AUDIO_2023.find((l) => l.includes("ExtractAudio"))!;
  assert.deepEqual(kinds(parseYtdlpLine(line)), [
    "postprocess",
    "postprocess",
    "postprocess",
    "postprocess",
  ]);
});

Deno.test("parser reads HLS fragment progress with moving estimates", () => {
  const progress = all(HLS_2026).filter((r) => r.kind === "progress");
  assert.ok(progress.length >= 3);
  assert.equal(progress[0].fragment_count, 6);
  assert.equal(progress[0].total_bytes, null);
  assert.ok(progress[0].total_bytes_estimate! > 0);
  assert.equal(progress.at(-1)!.status, "finished");
});

Deno.test("parser turns NA, NaN and missing fields into null and speed 0 into null", () => {
  const [record] = parseYtdlpLine(
    '\x1eprogress {"status": "downloading", "downloaded_bytes": 10, "total_bytes": "NA", ' +
      '"speed": NaN, "eta": Infinity} "NA"',
  );
  assert.deepEqual(record, {
    kind: "progress",
    status: "downloading",
    format_id: null,
    downloaded_bytes: 10,
    total_bytes: null,
    total_bytes_estimate: null,
    speed: null,
    eta: null,
    fragment_index: null,
    fragment_count: null,
  });
  const [zero] = parseYtdlpLine('\x1eprogress {"status": "downloading", "speed": 0} {}');
  assert.equal(zero.kind === "progress" && zero.speed, null);
});

Deno.test("parser skips non-record lines and truncated JSON but keeps ERROR lines", () => {
  assert.deepEqual(parseYtdlpLine("[download] Destination: x.mp4"), []);
  assert.deepEqual(parseYtdlpLine("WARNING: something odd"), []);
  assert.deepEqual(parseYtdlpLine('\x1eprogress {"status": "downl'), []);
  assert.deepEqual(parseYtdlpLine("\x1eunknown {}"), []);
  assert.deepEqual(parseYtdlpLine("\x1e"), []);
  assert.deepEqual(parseYtdlpLine("ERROR: \r[download] Got error: 5 bytes read, 9 more expected"), [
    { kind: "error", message: "[download] Got error: 5 bytes read, 9 more expected" },
  ]);
  assert.deepEqual(parseYtdlpLine("ERROR: [generic] Unable to download webpage: HTTP Error 404"), [
    { kind: "error", message: "[generic] Unable to download webpage: HTTP Error 404" },
  ]);
});

Deno.test("parser keeps titles that contain braces, quotes and Korean", () => {
  const [record] = parseYtdlpLine(
    '\x1einfo {"id": "x", "title": "a} {b \\"한국어\\"", "ext": "mp4"} [{"format_id": "18", "filesize": 100}]',
  );
  assert.ok(record.kind === "info");
  assert.equal(record.title, 'a} {b "한국어"');
  assert.deepEqual(record.streams, [{ format_id: "18", size: 100, tbr: null }]);
});

Deno.test("NaN and Infinity become null only where they are values, never inside strings", () => {
  const [record] = parseYtdlpLine(
    '\x1eprogress {"status": "downloading", "downloaded_bytes": 10, "total_bytes": NaN, "speed": Infinity, "eta": -Infinity} {"format_id": "hls-NaN-Infinity"}',
  );
  assert.ok(record.kind === "progress");
  assert.equal(record.format_id, "hls-NaN-Infinity");
  assert.equal(record.total_bytes, null);
  assert.equal(record.speed, null);
  assert.equal(record.eta, null);
  assert.equal(record.downloaded_bytes, 10);
  assert.equal(
    nullNonFinite('{"a": "say \\"NaN\\"", "b": NaN}'),
    '{"a": "say \\"NaN\\"", "b": null}',
  );
});
