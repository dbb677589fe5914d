import assert from "node:assert/strict";
import { templateProblem, ytdlpTemplate } from "./filename_template.ts";

Deno.test("file-name templates take safe fields only and can never become a path", () => {
  for (
    const good of [
      "%(title)s.%(ext)s",
      "%(upload_date)s %(title)s [%(id)s].%(ext)s",
      "%(playlist_index)s - %(uploader)s.%(ext)s",
    ]
  ) {
    assert.equal(templateProblem(good), null, good);
  }
  for (
    const [bad, why] of [
      ["../%(title)s.%(ext)s", /path separators|\.\./],
      ["/etc/%(title)s.%(ext)s", /path separators/],
      ["%(title)s", /end with/],
      ["%(filepath)s.%(ext)s", /'%\(filepath\)s' is not allowed/],
      ["%(title).1000s.%(ext)s", /is not allowed/],
      ["%(title)s%d.%(ext)s", /'%d' is not allowed/],
      [".hidden %(title)s.%(ext)s", /dot/],
      ["a\u0000b.%(ext)s", /control/],
      ["", /1 to 200/],
    ] as const
  ) {
    assert.match(templateProblem(bad) ?? "", why, bad);
  }
  assert.equal(ytdlpTemplate("%(title)s [%(id)s].%(ext)s"), "%(title).120B [%(id).40B].%(ext)s");
  assert.equal(ytdlpTemplate("%(upload_date)s.%(ext)s"), "%(upload_date)s.%(ext)s");
});
