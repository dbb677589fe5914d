import { Hono } from "hono";
import { serveStatic } from "hono/deno";

/** The first http(s) link in shared text: share sheets often send "Title https://…" as text. */
export function sharedLink(params: { url?: string; text?: string; title?: string }): string {
  for (const candidate of [params.url, params.text, params.title]) {
    const match = candidate?.match(/https?:\/\/\S+/i);
    if (match) return match[0];
  }
  return "";
}

/**
 * The web page, its assets, the login pages, the PWA manifest and the share target. Everything
 * here is public; the page's own data comes from the API, which the guard protects.
 */
export function pageRoutes(staticDir: string): Hono {
  const app = new Hono();
  const file = (name: string) => serveStatic({ root: staticDir, rewriteRequestPath: () => name });
  app.get("/static/*", serveStatic({ root: staticDir, rewriteRequestPath: (p) => p.slice(7) }));
  app.get("/", file("/index.html"));
  app.get("/favicon.ico", (c) => c.redirect("/static/favicon.svg", 301));
  app.get("/login", file("/login.html"));
  app.get("/setup", file("/setup.html"));
  // The API reference page; it renders /openapi.json itself.
  app.get("/docs", file("/docs.html"));
  app.get("/manifest.webmanifest", async (c, next) => {
    await next();
    c.res.headers.set("content-type", "application/manifest+json");
  }, file("/manifest.webmanifest"));
  // A phone's share sheet (manifest share_target) and the session bookmarklet land here. The
  // link is only filled into the page: nothing is fetched until the user presses download there,
  // so a link from another site cannot make the service download anything.
  app.get("/share", (c) => {
    const link = sharedLink(c.req.query());
    return c.redirect(link ? `/?share=${encodeURIComponent(link)}` : "/", 303);
  });
  return app;
}
