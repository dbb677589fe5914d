import assert from "node:assert/strict";
import { join } from "node:path";
import { pythonOf } from "./fork_server.ts";

Deno.test("pythonOf: a venv's python, a #! interpreter, env python3, nothing for a binary", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = (name: string, text: string) => Deno.writeTextFile(join(dir, name), text);
    await Deno.mkdir(join(dir, "venv"));
    await write("venv/python", "");
    await write("venv/yt-dlp", "#!/elsewhere/python3\n");
    assert.equal(await pythonOf(join(dir, "venv/yt-dlp")), join(dir, "venv/python"));
    await write("direct", "#!/usr/bin/python3.11 -E\nimport yt_dlp\n");
    assert.equal(await pythonOf(join(dir, "direct")), "/usr/bin/python3.11");
    await write("env", "#!/usr/bin/env python3\n");
    assert.equal(await pythonOf(join(dir, "env")), "python3");
    await write("shell", '#!/bin/sh\nexec yt-dlp "$@"\n');
    assert.equal(await pythonOf(join(dir, "shell")), null);
    await Deno.writeFile(join(dir, "binary"), new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1]));
    assert.equal(await pythonOf(join(dir, "binary")), null);
    assert.equal(await pythonOf(join(dir, "missing")), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
