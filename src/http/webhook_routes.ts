import { Hono } from "hono";
import { z } from "zod";
import { RequestError } from "../model/errors.ts";
import { randomText } from "../model/random_text.ts";
import type { AddressPolicy } from "../net/address_policy.ts";
import { assertAllowedUrl, type Resolver } from "../net/url_policy.ts";
import type { WebhookDispatcher } from "../webhooks/webhook_dispatcher.ts";
import {
  MAX_WEBHOOKS,
  WEBHOOK_EVENTS,
  type WebhookStore,
  type WebhookView,
} from "../webhooks/webhook_store.ts";
import { jsonBody, parseJson } from "./json_body.ts";

export interface WebhookRoutesDeps {
  store: WebhookStore;
  dispatcher: WebhookDispatcher;
  policy: AddressPolicy;
  resolve: Resolver;
}

/** A new webhook as the API takes it. */
export const webhookRequestSchema = z.strictObject({
  url: z.string().max(2048).refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "http:" || url.protocol === "https:") && url.username === "" &&
        url.password === "";
    } catch {
      return false;
    }
  }, "must be an http(s) URL without user:password (deliveries are signed instead)"),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).default([...WEBHOOK_EVENTS]),
  secret: z.string().min(16, "must be at least 16 characters").max(200).optional(),
});

/**
 * `/webhooks`: register (the URL held to the download URL policy; the secret shown once), list,
 * read, delete, see each one's delivery log, and send a `ping` to try a receiver.
 */
export function webhookRoutes(deps: WebhookRoutesDeps): Hono {
  const { store } = deps;
  const routes = new Hono();
  const find = (id: string) => {
    const webhook = store.get(id);
    if (webhook === null) throw new RequestError(404, "not_found", `no webhook with id '${id}'`);
    return webhook;
  };
  const view = (id: string): WebhookView => store.list().find((w) => w.id === id)!;

  routes.post("/webhooks", jsonBody(), async (c) => {
    const request = await parseJson(c, webhookRequestSchema);
    if (store.list().length >= MAX_WEBHOOKS) {
      throw new RequestError(409, "too_many_webhooks", `at most ${MAX_WEBHOOKS} webhooks`);
    }
    const url = new URL(request.url);
    await assertAllowedUrl(url, deps.policy, deps.resolve);
    const secret = request.secret ?? `whsec_${randomText(32)}`;
    const id = randomText(9).replace(/[-_]/g, "x");
    await store.add({
      id,
      url: url.href,
      events: [...new Set(request.events)],
      secret,
      created_at: new Date().toISOString(),
    });
    c.header("Location", `/api/v1/webhooks/${id}`);
    return c.json({ ...view(id), secret }, 201);
  });

  routes.get("/webhooks", (c) => c.json(store.list()));

  routes.get("/webhooks/:id", (c) => c.json(view(find(c.req.param("id")).id)));

  routes.delete("/webhooks/:id", async (c) => {
    find(c.req.param("id"));
    await store.remove(c.req.param("id"));
    return c.body(null, 204);
  });

  routes.get("/webhooks/:id/deliveries", (c) => {
    return c.json(store.deliveries(find(c.req.param("id")).id));
  });

  routes.post("/webhooks/:id/ping", async (c) => {
    return c.json(await deps.dispatcher.ping(find(c.req.param("id"))), 202);
  });

  return routes;
}
