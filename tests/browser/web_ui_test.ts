import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../fixtures/browser.ts";
import { fixtureMedia, MEDIA } from "../fixtures/media.ts";
import { type FixtureServer, startFixtureServer } from "../fixtures/server.ts";
import { sha256 } from "../fixtures/service.ts";
import { type ServiceProcess, spawnService } from "../fixtures/service_process.ts";
import { RELEASES, startPackageIndex, ytdlpWheels } from "../fixtures/ytdlp.ts";
import { readZip } from "../fixtures/zip.ts";

const mediaDir = await fixtureMedia();
const screenshotDir = Deno.env.get("UPDATE_SCREENSHOTS")
  ? join(import.meta.dirname!, "..", "..", "docs")
  : null;

/** Submits a link through the form the way a person does: type, press Enter. */
async function paste(page: Page, url: string) {
  await page.fill("#url", url);
  await page.press("#url", "Enter");
}

/** A fresh page on the service's web UI, loaded and showing its (empty) list. */
async function openPage(browser: Browser, origin: string, locale = "en-US"): Promise<Page> {
  const page = await browser.newPage({ locale, viewport: { width: 900, height: 640 } });
  await page.goto(origin);
  await page.locator("#empty").waitFor();
  return page;
}

/** What each browser test gets: a fixture source, a running service, and a page on its UI. */
interface UiContext {
  source: FixtureServer;
  service: ServiceProcess;
  page: Page;
}

/** Declares a browser test with its own fixture server, service and Chromium page. */
function uiTest(name: string, fn: (context: UiContext) => Promise<void>, locale = "en-US") {
  Deno.test({
    name: `web page: ${name}`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using source = startFixtureServer(mediaDir);
      await using service = await spawnService();
      await using browser = await launchChromium();
      const page = await openPage(browser, service.origin, locale);
      await fn({ source, service, page });
    },
  });
}

const row = (page: Page, n = 0) => page.locator("#tasks > li").nth(n);

/** Records every value the first row's progress element takes, from inside the page. */
const RECORD_PROGRESS = `(() => {
  const values = (globalThis.progressValues = []);
  const seen = new WeakSet();
  const watch = () => {
    const bar = document.querySelector("#tasks > li progress");
    if (!bar || seen.has(bar)) return;
    seen.add(bar);
    new MutationObserver(() => { if (bar.hasAttribute("value")) values.push(bar.value); })
      .observe(bar, { attributes: true });
  };
  new MutationObserver(watch).observe(document.querySelector("#tasks"), { childList: true });
  watch();
})()`;

/** The page's globals as the functions below use them; they run in Chromium, not in Deno. */
interface PageGlobals {
  document: {
    querySelector(selector: string): { value: number; hasAttribute(name: string): boolean } | null;
  };
}

/** Waits until the first row's bar has a value inside (low, high). */
const barBetween = (page: Page, low: number, high: number) =>
  page.waitForFunction(([low, high]) => {
    const page = globalThis as unknown as PageGlobals;
    const bar = page.document.querySelector("#tasks > li progress");
    return !!bar && bar.hasAttribute("value") && bar.value > low && bar.value < high;
  }, [low, high]);

const barValue = (page: Page) =>
  page.evaluate(() =>
    (globalThis as unknown as PageGlobals).document.querySelector("#tasks > li progress")!.value
  );

uiTest(
  "submit, watch the bar move, save the file byte-exact, reload mid-download",
  async ({ source, page }) => {
    await page.evaluate(RECORD_PROGRESS);

    await paste(page, source.url(MEDIA.page, { rate: 90_000 }));
    await row(page).locator(".task-title").filter({ hasText: "Fixture clip" }).waitFor();
    await barBetween(page, 30, 80);
    if (screenshotDir) {
      await page.screenshot({ path: join(screenshotDir, "screenshot-downloading.png") });
    }

    // Reload mid-download: the row is back at once and keeps moving.
    const before = await barValue(page);
    await page.reload();
    await row(page).waitFor();
    await barBetween(page, before, 101);
    assert.equal(await page.locator("#tasks > li").count(), 1);

    const save = row(page).locator("a.save");
    await save.waitFor({ state: "visible", timeout: 60_000 });
    assert.equal(await row(page).locator(".task-status").textContent(), "Completed");
    assert.equal(await barValue(page), 100);
    if (screenshotDir) {
      await page.screenshot({ path: join(screenshotDir, "screenshot-finished.png") });
    }

    const [download] = await Promise.all([page.waitForEvent("download"), save.click()]);
    assert.equal(
      download.suggestedFilename(),
      `${await row(page).locator(".task-title").textContent()}.mp4`,
    );
    const saved = await download.path();
    assert.equal(await sha256(saved), await sha256(join(mediaDir, MEDIA.mp4)));
  },
);

uiTest(
  "progress takes several increasing values before the file link appears",
  async ({ source, page }) => {
    await page.evaluate(RECORD_PROGRESS);
    await paste(page, source.url(MEDIA.mp4, { rate: 120_000 }));
    await row(page).locator("a.save").waitFor({ state: "visible", timeout: 60_000 });
    const values = (await page.evaluate("globalThis.progressValues")) as number[];
    const distinct = [...new Set(values)];
    assert.ok(distinct.length >= 4, `values: ${values}`);
    for (let i = 1; i < values.length; i++) {
      assert.ok(values[i] >= values[i - 1], `values: ${values}`);
    }
    assert.equal(values.at(-1), 100);
  },
);

uiTest(
  "cancel a running task, see a failure's reason, bad input explained, Korean",
  async ({ source, page }) => {
    await paste(page, "ftp://example.com/video.mp4");
    const error = page.locator("#url-error");
    await error.waitFor({ state: "visible" });
    assert.match((await error.textContent())!, /http/);
    assert.equal(await page.getAttribute("#url", "aria-invalid"), "true");
    assert.equal(await page.locator("#tasks > li").count(), 0);

    await paste(page, "http://10.0.0.1/video.mp4");
    await error.filter({ hasText: "ALLOWED_PRIVATE_NETWORKS" }).waitFor();
    assert.match((await error.textContent())!, /private network.*10\.0\.0\.1/s);
    assert.equal(await page.locator("#tasks > li").count(), 0);

    await paste(page, source.url(MEDIA.large, { rate: 200_000 }));
    const running = row(page);
    await running.locator(".task-status").filter({ hasText: "Downloading" }).waitFor();
    await barBetween(page, 0, 101);
    await running.locator("button.cancel").click();
    await running.locator(".task-status").filter({ hasText: "Cancelled" }).waitFor();
    assert.ok(await running.locator("button.remove").isVisible());

    await paste(page, source.url("missing.mp4"));
    const failed = row(page);
    await failed.locator(".task-status").filter({ hasText: "Failed" }).waitFor();
    assert.equal(
      await failed.locator(".task-error-text").textContent(),
      "The site refused or does not have this video.",
    );
    const raw = failed.locator(".task-error-raw");
    assert.equal(await raw.isVisible(), false, "yt-dlp's words wait behind the toggle");
    await failed.locator(".task-error summary").click();
    assert.match((await raw.textContent())!, /source_unavailable: .*HTTP Error 404/);
    assert.ok(await failed.locator("button.retry").isVisible());
    const id = await failed.getAttribute("data-id");
    await failed.locator("button.retry").click();
    // The same row goes round again (and fails again: the file is still missing).
    await page.locator(`#task-${id}[data-status="queued"], #task-${id}[data-status="downloading"]`)
      .or(page.locator(`#task-${id}[data-status="failed"]`)).first().waitFor();
    assert.equal(await page.locator("#tasks > li").count(), 2, "retry replaces the row");

    await page.click("#lang");
    assert.equal(await page.getAttribute("html", "lang"), "ko");
    assert.equal(await page.locator("#submit").textContent(), "다운로드");
    await page.locator("#tasks .task-status").filter({ hasText: "취소됨" }).waitFor();
    await page.reload();
    assert.equal(
      await page.locator("#submit").textContent(),
      "다운로드",
      "the choice is remembered",
    );
  },
);

uiTest(
  "a dropped connection is announced and the page reconnects by itself",
  async ({ service, page }) => {
    assert.equal(
      await page.locator("#submit").textContent(),
      "다운로드",
      "Korean from the browser",
    );
    // Restart the service on the same port and data: the page must notice and come back by itself.
    const port = new URL(service.origin).port;
    assert.equal((await service.stop("SIGTERM")).code, 0);
    const banner = page.locator("#connection");
    await banner.waitFor({ state: "visible" });
    assert.match((await banner.textContent())!, /다시 연결/);
    await using _again = await spawnService(service.dataDir, { PORT: port });
    await banner.waitFor({ state: "hidden", timeout: 15_000 });
  },
  "ko-KR",
);

Deno.test({
  name: "web page: the footer shows the managed yt-dlp, warns that it is old, and updates it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using index = await startPackageIndex(await ytdlpWheels());
    index.hide(RELEASES.current);
    await using service = await spawnService(undefined, {
      YTDLP_PATH: "",
      YTDLP_PIP_INDEX: index.url,
    }, 180_000);
    await using browser = await launchChromium();
    const page = await openPage(browser, service.origin);
    const version = page.locator("#ytdlp-version");
    await version.filter({ hasText: RELEASES.old }).waitFor();
    assert.match((await version.textContent())!, /yt-dlp 2026\.10\.21 \(stable, \d+ days old\)/);
    // 2026.10.21 is more than 30 days before this test's date (2026-11-30 and later).
    assert.match((await page.locator("#ytdlp-warning").textContent())!, /over 30 days old/);

    index.show(RELEASES.current);
    page.once("dialog", (dialog) => dialog.accept());
    await page.click("#ytdlp-update");
    await page.locator("#ytdlp-message").filter({ hasText: `Updated to ${RELEASES.current}` })
      .waitFor({ timeout: 120_000 });
    await version.filter({ hasText: RELEASES.current }).waitFor();
  },
});

uiTest("cookies are uploaded, listed by domain without values, and deleted", async ({ page }) => {
  await page.locator("#cookies-state").filter({ hasText: "No cookies uploaded" }).waitFor();
  await page.setInputFiles("#cookies-file", {
    name: "cookies.txt",
    mimeType: "text/plain",
    buffer: Buffer.from(
      "# Netscape HTTP Cookie File\n.youtube.com\tTRUE\t/\tTRUE\t1900000000\tSID\ttop-secret\n",
    ),
  });
  await page.locator("#cookies-message").filter({ hasText: "Cookies saved." }).waitFor();
  const listed = await page.locator("#cookies-domains li").allTextContents();
  assert.equal(listed.length, 1);
  assert.match(listed[0], /^youtube\.com \(1, until /);
  assert.ok(!(await page.content()).includes("top-secret"));

  await page.setInputFiles("#cookies-file", {
    name: "cookies.json",
    mimeType: "application/json",
    buffer: Buffer.from('[{"name": "SID"}]'),
  });
  await page.locator("#cookies-message").filter({ hasText: "JSON" }).waitFor();

  page.once("dialog", (dialog) => dialog.accept());
  await page.click("#cookies-delete");
  await page.locator("#cookies-state").filter({ hasText: "No cookies uploaded" }).waitFor();
});

uiTest(
  "a playlist is one row with its entries inside, an overall bar, and one zip",
  async ({ source, page }) => {
    await paste(page, source.url(MEDIA.multiPage));
    const group = row(page);
    await group.locator(".task-info").filter({ hasText: "3 of 3 done" }).waitFor({
      timeout: 60_000,
    });
    assert.equal(
      await page.locator("#tasks > li").count(),
      1,
      "the entries are not rows of their own",
    );
    const entries = group.locator(":scope > .children > li");
    assert.equal(
      await group.locator(":scope > .children").isVisible(),
      false,
      "collapsed at first",
    );
    await group.locator(":scope > .task-actions button.toggle").click();
    assert.equal(await entries.count(), 3);
    assert.equal(
      await group.locator(":scope > .task-actions button.toggle").getAttribute("aria-expanded"),
      "true",
    );
    assert.equal(await group.locator(":scope > progress").getAttribute("value"), "100");
    const save = group.locator(":scope > .task-actions a.save");
    assert.equal(await save.textContent(), "Save all (zip)");
    const [download] = await Promise.all([page.waitForEvent("download"), save.click()]);
    assert.match(download.suggestedFilename(), /^Three clips\.zip$/);
    const zip = readZip(await Deno.readFile((await download.path())!));
    assert.deepEqual(zip.map((e) => e.name.slice(0, 4)), ["1 - ", "2 - ", "3 - "]);
  },
);

uiTest(
  "the format picker lists what the site offers; the pick is what is downloaded",
  async ({ source, page }) => {
    await page.fill("#url", source.url(MEDIA.dash));
    await page.click("#choose-format");
    const rows = page.locator("#format-list tbody tr");
    await rows.first().waitFor();
    assert.equal(await rows.count(), 2);
    const video = rows.filter({ hasText: "320x240" });
    await video.locator("button").click();
    assert.match((await page.locator("#format-choice").textContent())!, /Format: 0 · mp4 320x240/);
    await page.press("#url", "Enter");
    await row(page).locator(".task-info").filter({ hasText: "0+bestaudio" }).waitFor();
    await row(page).locator("a.save").waitFor({ state: "visible", timeout: 60_000 });
  },
);

uiTest(
  "advanced options are sent and remembered; a row shows its thumbnail, length and file",
  async ({ source, page, service }) => {
    await page.click("#advanced summary");
    await page.selectOption('[data-option="container"]', "mkv");
    await page.check('[data-option="embed_thumbnail"]');
    await paste(page, source.url(MEDIA.subtitlesPage));
    const first = row(page);
    await first.locator("a.save").waitFor({ state: "visible", timeout: 60_000 });
    const info = (await first.locator(".task-info").textContent())!;
    // The page gives no length; the service took it from the file.
    assert.match(info, /^Video · Best · mkv · 0:06 · Subtitled clip \[subs-1\]\.mkv · /);
    const thumb = first.locator("img.thumb");
    assert.equal(await thumb.isVisible(), true);
    const src = (await thumb.getAttribute("src"))!;
    assert.match(src, /^\/api\/v1\/download\/[0-9a-f-]+\/thumbnail$/);
    assert.ok(
      await thumb.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth > 0),
    );
    const task = await (await fetch(`${service.origin}/api/v1/downloads`)).json();
    assert.equal(task.tasks[0].container, "mkv");
    assert.equal(task.tasks[0].embed_thumbnail, true);

    await page.reload();
    await page.locator("#tasks > li").first().waitFor();
    assert.equal(await page.inputValue('[data-option="container"]'), "mkv", "remembered");
    assert.equal(await page.isChecked('[data-option="embed_thumbnail"]'), true);
    const icon = await fetch(`${service.origin}/favicon.ico`);
    await icon.body?.cancel();
    assert.equal(icon.status, 200, "no favicon 404");
  },
);
