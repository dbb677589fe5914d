import assert from "node:assert/strict";
import { parseVerboseHeader } from "./probe.ts";

Deno.test("the verbose header gives version, channel, solver and runtime, in old and new formats", () => {
  assert.deepEqual(
    parseVerboseHeader(`[debug] Command-line config: ['-v']
[debug] yt-dlp version stable@2026.10.26 from yt-dlp/yt-dlp [c91f8de0b] (pip)
[debug] Optional libraries: Cryptodome-3.24.2, brotli-1.2.1, certifi-2026.10.19, mutagen-1.48.1, requests-2.34.2, sqlite3-3.40.1, urllib3-2.8.0, websockets-17.4, yt_dlp_ejs-0.8.0
[debug] JS runtimes: deno-2.9.6
`),
    { version: "2026.10.26", channel: "stable", ejs: "0.8.0", jsRuntime: "deno-2.9.6" },
  );
  assert.deepEqual(
    parseVerboseHeader(
      `[debug] yt-dlp version nightly@2026.11.29.232812 from yt-dlp/yt-dlp-nightly-builds [abc] (pip)
[debug] Optional libraries: certifi-2026.10.19
[debug] JS runtimes: none
`,
    ),
    { version: "2026.11.29.232812", channel: "nightly", ejs: null, jsRuntime: null },
  );
  assert.deepEqual(
    parseVerboseHeader("[debug] yt-dlp version 2023.03.04 [392389b7d]\n"),
    { version: "2023.03.04", channel: "stable", ejs: null, jsRuntime: null },
  );
});
