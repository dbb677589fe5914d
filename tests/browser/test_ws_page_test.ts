import assert from "node:assert/strict";
import { launchChromium } from "../fixtures/browser.ts";
import { fixtureMedia, MEDIA } from "../fixtures/media.ts";
import { startFixtureServer } from "../fixtures/server.ts";
import { spawnService } from "../fixtures/service_process.ts";

Deno.test({
  name: "test_ws.html connects for a running task and logs its messages to the console",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const mediaDir = await fixtureMedia();
    await using source = startFixtureServer(mediaDir);
    await using service = await spawnService();
    const response = await fetch(`${service.origin}/api/v1/download`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: source.url(MEDIA.mp4, { rate: 100_000 }) }),
    });
    const task = await response.json();
    await using browser = await launchChromium();
    {
      const page = await browser.newPage();
      const logged: string[] = [];
      const completed = Promise.withResolvers<void>();
      page.on("console", (message) => {
        logged.push(message.text());
        if (message.text().startsWith("closed:")) completed.resolve();
      });
      await page.goto(`${service.origin}/static/test_ws.html?task_id=${task.task_id}`);
      const timer = setTimeout(
        () => completed.reject(new Error(`no close; console: ${logged}`)),
        60_000,
      );
      await completed.promise.finally(() => clearTimeout(timer));

      assert.ok(logged.includes("state: connecting"));
      assert.ok(logged.includes("state: connected"));
      assert.ok(logged.some((l) => l.startsWith("message:")), "messages are logged");
      assert.ok(logged.includes("closed: 1000 task finished"));
      const items = await page.locator("#log li").allTextContents();
      const types = items.map((text) => JSON.parse(text).type);
      assert.equal(types[0], "status");
      assert.ok(types.includes("progress"));
      assert.equal(types.at(-1), "complete");
      assert.equal(await page.locator("#state").textContent(), "closed");
    }
  },
});
