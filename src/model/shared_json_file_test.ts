import assert from "node:assert/strict";
import { join } from "node:path";
import { SharedJsonFile } from "./shared_json_file.ts";

type Data = { items: string[] };
const parse = (value: unknown) => Array.isArray((value as Data)?.items) ? (value as Data) : null;

Deno.test("two processes' handles on one file: every change lands, and each sees the other's", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "shared.json");
    const one = new SharedJsonFile(path, parse);
    const two = new SharedJsonFile(path, parse);
    const empty = () => ({ items: [] as string[] });
    // Interleaved read-change-writes from both: the lock keeps every item.
    await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => (i % 2 ? one : two).update(empty, (data) => data.items.push(`item ${i}`)),
      ),
    );
    const final = await one.read();
    assert.equal(final?.items.length, 20);
    two.changed();
    // Whichever wrote last, a change by one is seen by the other, once.
    await one.update(empty, (data) => data.items.push("last"));
    assert.equal(two.changed()?.items.length, 21, "the other handle notices the change");
    assert.equal(two.changed(), null, "and only once");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a damaged file is not emptied by a change: the caller's copy is written instead", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "shared.json");
    await Deno.writeTextFile(path, "{ not json");
    const file = new SharedJsonFile(path, parse);
    await assert.rejects(() => file.read(), SyntaxError);
    const ours = { items: ["kept"] };
    await file.update(() => ours, (data) => data.items.push("added"));
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), { items: ["kept", "added"] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
