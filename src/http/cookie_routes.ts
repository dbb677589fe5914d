import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { type CookieStore, MAX_COOKIES_BYTES } from "../downloads/cookie_store.ts";
import { RequestError } from "../model/errors.ts";

/**
 * `PUT /cookies` with a Netscape cookies.txt as the body stores it (validated, mode 0600) and
 * answers with the domains it covers; `GET` shows only that summary, never a value; `DELETE`
 * removes it.
 */
export function cookieRoutes(store: CookieStore): Hono {
  const routes = new Hono();
  routes.put(
    "/cookies",
    bodyLimit({
      maxSize: MAX_COOKIES_BYTES,
      onError: () => {
        throw new RequestError(
          413,
          "body_too_large",
          `cookies.txt must be at most ${MAX_COOKIES_BYTES} bytes`,
        );
      },
    }),
    async (c) => {
      const type = c.req.header("content-type") ?? "";
      if (!/^text\/plain\s*(;|$)/i.test(type)) {
        throw new RequestError(415, "unsupported_media_type", "send the cookies.txt as text/plain");
      }
      return c.json(await store.put(await c.req.text()));
    },
  );
  routes.get("/cookies", async (c) => {
    const summary = await store.summary();
    if (summary === null) throw new RequestError(404, "no_cookies", "no cookies are stored");
    return c.json(summary);
  });
  routes.delete("/cookies", async (c) => {
    if (!(await store.delete())) throw new RequestError(404, "no_cookies", "no cookies are stored");
    return c.body(null, 204);
  });
  return routes;
}
