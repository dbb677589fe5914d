// Logins, the share target and both bookmarklets in Chromium, against the real service process
// with AUTH_MODE=password, the way a person uses them.
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../fixtures/browser.ts";
import { fixtureMedia, MEDIA } from "../fixtures/media.ts";
import { type FixtureServer, startFixtureServer } from "../fixtures/server.ts";
import { type ServiceProcess, spawnService } from "../fixtures/service_process.ts";

const mediaDir = await fixtureMedia();
const PASSWORD = "correct horse battery";

interface AuthContext {
  source: FixtureServer;
  service: ServiceProcess;
  browser: Browser;
}

function authTest(name: string, fn: (context: AuthContext) => Promise<void>) {
  Deno.test({
    name: `logins: ${name}`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using source = startFixtureServer(mediaDir);
      await using service = await spawnService(undefined, {
        AUTH_MODE: "password",
        ADMIN_PASSWORD: PASSWORD,
      });
      await using browser = await launchChromium();
      await fn({ source, service, browser });
    },
  });
}

/** Logs in on the login page the page sent us to, and waits for the list. */
async function logIn(page: Page) {
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#login-submit").click();
  await page.locator("#empty").waitFor();
}

/** Resolves with the text of the next alert the page shows, dismissing it. */
function nextAlert(page: Page): Promise<string> {
  return new Promise((resolve) =>
    page.once("dialog", async (dialog) => {
      resolve(dialog.message());
      await dialog.dismiss();
    })
  );
}

/** The link field's value once the page has filled it in. */
async function filledUrl(page: Page): Promise<string> {
  await page.waitForFunction(() =>
    (globalThis as unknown as { document: { querySelector(s: string): { value: string } } })
      .document.querySelector("#url").value !== ""
  );
  return await page.locator("#url").inputValue();
}

/** The tasks the service has, read with the page's own session. */
async function tasksSeenBy(page: Page): Promise<{ url: string; status: string }[]> {
  return await page.evaluate(async () => {
    const response = await fetch("/api/v1/downloads");
    return (await response.json()).tasks;
  });
}

authTest(
  "the page asks for the password, keeps the session, and logs out",
  async ({ service, browser }) => {
    const page = await browser.newPage({ locale: "ko-KR" });
    await page.goto(service.origin);
    assert.equal(new URL(page.url()).pathname, "/login");
    assert.equal(await page.locator("h1").textContent(), "로그인");
    await page.locator("#password").fill("not the password");
    await page.locator("#login-submit").click();
    await page.locator("#login-error").waitFor();
    assert.equal(await page.locator("#login-error").textContent(), "비밀번호가 맞지 않습니다.");

    await logIn(page);
    assert.equal(new URL(page.url()).pathname, "/");
    const [cookie] = await page.context().cookies();
    assert.equal(cookie.name, "ytdl_session");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Lax");
    assert.equal(cookie.secure, false, "plain http here; Secure behind https");
    // The session outlives a reload, and the socket accepts it: the page shows itself connected.
    await page.reload();
    await page.locator("#empty").waitFor();
    assert.equal(new URL(page.url()).pathname, "/");

    await page.locator("#logout").click();
    await page.waitForURL((url) => url.pathname === "/login");
    await page.goto(service.origin);
    assert.equal(new URL(page.url()).pathname, "/login");
    const status = await page.evaluate(async () => (await fetch("/api/v1/downloads")).status);
    assert.equal(status, 401);
  },
);

authTest(
  "a link shared from a phone's share sheet lands in the form after the login",
  async ({ source, service, browser }) => {
    const page = await browser.newPage({ locale: "en-US" });
    const manifest = await (await fetch(`${service.origin}/manifest.webmanifest`)).json();
    assert.equal(manifest.share_target.action, "/share");
    assert.equal(manifest.share_target.method, "GET");
    // Android shares "title text url" with the link inside `text`.
    const link = `${source.origin}/${MEDIA.mp4}`;
    const shareUrl = new URL(manifest.share_target.action, service.origin);
    shareUrl.searchParams.set(manifest.share_target.params.text, `Look at this ${link}`);
    await page.goto(shareUrl.href);
    assert.equal(new URL(page.url()).pathname, "/login");
    await logIn(page);
    assert.equal(await filledUrl(page), link);
    assert.equal(
      await page.locator("#url-error").textContent(),
      "Shared link: press Download to fetch it.",
    );
    assert.deepEqual(await tasksSeenBy(page), [], "nothing is fetched before the user says so");
    await page.locator("#submit").click();
    await page.locator("#tasks > li a.save").waitFor({ timeout: 60_000 });
    const [task] = await tasksSeenBy(page);
    assert.equal(task.url, link);
    assert.equal(task.status, "completed");
  },
);

authTest(
  "the session bookmarklet brings a video page's link into the form",
  async ({ source, service, browser }) => {
    const page = await browser.newPage({ locale: "en-US" });
    await page.goto(service.origin);
    await logIn(page);
    const link = page.locator('#bookmarklet[href^="javascript:"]');
    await link.waitFor({ state: "attached" });
    const bookmarklet = await link.getAttribute("href");
    // Pressed on another site's page showing a video.
    const videoPage = `${source.origin}/${MEDIA.page}`;
    await page.goto(videoPage);
    await page.evaluate(bookmarklet!.slice("javascript:".length));
    await page.waitForURL((url) => url.origin === service.origin && url.pathname === "/");
    await page.locator("#empty").waitFor();
    assert.equal(await filledUrl(page), videoPage);
  },
);

authTest(
  "the token bookmarklet queues a download straight from another site's page",
  async ({ source, service, browser }) => {
    const page = await browser.newPage({ locale: "en-US" });
    await page.goto(service.origin);
    await logIn(page);
    await page.locator("#make-token-bookmarklet").click();
    await page.locator("#token-bookmarklet:not([hidden])").waitFor();
    const bookmarklet = await page.locator("#token-bookmarklet").getAttribute("href");
    assert.match(bookmarklet!, /authorization:"Bearer ytdl_/);
    // The token is listed with the scopes it needs and no more.
    await page.locator("#token-list li").first().waitFor();
    assert.match(
      await page.locator("#token-list li").first().textContent() ?? "",
      /read\+download/,
    );

    // In a fresh browser context (no session) on the video's page: the token alone must do.
    const other = await browser.newPage();
    const videoPage = `${source.origin}/${MEDIA.page}`;
    await other.goto(videoPage);
    const alerted = nextAlert(other);
    await other.evaluate(bookmarklet!.slice("javascript:".length));
    assert.equal(await alerted, "ytdl-live: queued");
    await page.goto(service.origin);
    await page.locator("#tasks > li a.save").waitFor({ timeout: 60_000 });
    const [task] = await tasksSeenBy(page);
    assert.equal(task.url, videoPage);
    assert.equal(task.status, "completed");

    // Revoked in the page, the same bookmarklet is refused.
    page.once("dialog", (dialog) => dialog.accept());
    await page.locator("#token-list li button").first().click();
    await page.locator("#token-list li").waitFor({ state: "detached" });
    const refused = nextAlert(other);
    await other.evaluate(bookmarklet!.slice("javascript:".length));
    assert.equal(await refused, "ytdl-live: 401");
  },
);

authTest(
  "the API docs page renders every operation from /openapi.json without logging in",
  async ({ service, browser }) => {
    const page = await browser.newPage({ locale: "en-US" });
    const errors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    await page.goto(`${service.origin}/docs`);
    const spec = await (await fetch(`${service.origin}/openapi.json`)).json();
    const operations = Object.values(spec.paths as Record<string, object>)
      .reduce((sum, methods) => sum + Object.keys(methods).length, 0);
    await page.locator('details[id^="op-"]').nth(operations - 1).waitFor({ state: "attached" });
    assert.equal(await page.locator('details[id^="op-"]').count(), operations);
    await page.locator("#filter").fill("delivery log");
    assert.equal(await page.locator('details[id^="op-"]:not([hidden])').count(), 1);
    await page.locator("#filter").fill("");
    await page.locator("#op-submitDownload summary").click();
    await page.locator('#op-submitDownload a[href="#schema-Task"]').first().click();
    assert.equal(await page.locator("#schema-Task").getAttribute("open"), "");
    assert.deepEqual(errors, [], "no CSP violation or script error");
  },
);
