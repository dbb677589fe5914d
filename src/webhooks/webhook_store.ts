import { writeFileAtomic } from "../model/atomic_file.ts";
import { z } from "zod";

/** What a webhook can be told about. `ping` is sent on request only, to try a receiver. */
export const WEBHOOK_EVENTS = ["completed", "failed", "cancelled", "group_completed"] as const;
export type WebhookEvent = typeof WEBHOOK_EVENTS[number];
export type DeliveryEvent = WebhookEvent | "ping";

/** At most this many webhooks; each keeps this many finished deliveries in its log. */
export const MAX_WEBHOOKS = 20;
const LOG_PER_WEBHOOK = 50;
/** Deliveries waiting per webhook; past it the oldest is given up (a receiver down for days). */
const PENDING_PER_WEBHOOK = 200;
/** Attempts kept in a delivery's log; the count goes on. */
const ATTEMPTS_KEPT = 20;

export const webhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  secret: z.string(),
  created_at: z.string(),
});
const attemptSchema = z.object({
  at: z.string(),
  status_code: z.number().nullable(),
  error: z.string().nullable(),
  duration_ms: z.number(),
});
export const deliverySchema = z.object({
  id: z.string(),
  webhook_id: z.string(),
  event: z.enum([...WEBHOOK_EVENTS, "ping"]),
  task_id: z.string().nullable(),
  created_at: z.string(),
  status: z.enum(["pending", "delivered", "failed"]),
  attempts: z.number(),
  log: z.array(attemptSchema),
  next_attempt_at: z.string().nullable(),
  /** The JSON body, kept until the delivery is finished. */
  body: z.string().nullable(),
});
const fileSchema = z.object({
  version: z.literal(1),
  webhooks: z.array(webhookSchema),
  deliveries: z.array(deliverySchema),
});

export type Webhook = z.infer<typeof webhookSchema>;
export type Delivery = z.infer<typeof deliverySchema>;
export type DeliveryAttempt = z.infer<typeof attemptSchema>;
/** A webhook as the API lists it: never its secret, which is shown once. */
export type WebhookView = Omit<Webhook, "secret">;
/** A delivery as the log shows it. */
export type DeliveryView = Omit<Delivery, "body">;

/**
 * Webhooks, their secrets and their deliveries (waiting ones with their bodies, so that retries
 * outlive a restart), in one file readable by the service's user only.
 */
export class WebhookStore {
  readonly #path: string;
  #data: z.infer<typeof fileSchema> = { version: 1, webhooks: [], deliveries: [] };
  #writes: Promise<void> = Promise.resolve();

  private constructor(path: string) {
    this.#path = path;
  }

  /** Loads the file; a missing one is an empty store, a damaged one an error naming it. */
  static async open(path: string): Promise<WebhookStore> {
    const store = new WebhookStore(path);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return store;
      throw error;
    }
    let parsed;
    try {
      parsed = fileSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = { success: false } as const;
    }
    if (!parsed.success) {
      throw new Error(
        `${path} is not a valid webhooks file; move it away to start without webhooks`,
      );
    }
    store.#data = parsed.data;
    return store;
  }

  list(): WebhookView[] {
    return this.#data.webhooks.map(view);
  }

  /** The webhook with its secret, for signing; null when there is none. */
  get(id: string): Webhook | null {
    return this.#data.webhooks.find((w) => w.id === id) ?? null;
  }

  /** Webhooks that want an event. */
  subscribers(event: WebhookEvent): Webhook[] {
    return this.#data.webhooks.filter((w) => w.events.includes(event));
  }

  async add(webhook: Webhook): Promise<void> {
    this.#data.webhooks.push(webhook);
    await this.#save();
  }

  /** Removes a webhook with its log and anything still waiting; false when there is none. */
  async remove(id: string): Promise<boolean> {
    const before = this.#data.webhooks.length;
    this.#data.webhooks = this.#data.webhooks.filter((w) => w.id !== id);
    if (this.#data.webhooks.length === before) return false;
    this.#data.deliveries = this.#data.deliveries.filter((d) => d.webhook_id !== id);
    await this.#save();
    return true;
  }

  /** A webhook's deliveries, newest first. */
  deliveries(webhookId: string): DeliveryView[] {
    return this.#data.deliveries
      .filter((d) => d.webhook_id === webhookId)
      .reverse()
      .map(({ body: _body, ...rest }) => ({ ...rest, log: [...rest.log] }));
  }

  /** Deliveries still to be made, oldest first. */
  pending(): Delivery[] {
    return this.#data.deliveries.filter((d) => d.status === "pending");
  }

  /** Records a new delivery; gives up the oldest waiting one when a webhook has too many. */
  async enqueue(delivery: Delivery): Promise<Delivery[]> {
    this.#data.deliveries.push(delivery);
    const waiting = this.#data.deliveries.filter(
      (d) => d.webhook_id === delivery.webhook_id && d.status === "pending",
    );
    const dropped = waiting.slice(0, Math.max(0, waiting.length - PENDING_PER_WEBHOOK));
    for (const old of dropped) {
      this.finish(old, "failed", null);
      old.log.push({
        at: delivery.created_at,
        status_code: null,
        error: `given up: more than ${PENDING_PER_WEBHOOK} deliveries waiting`,
        duration_ms: 0,
      });
    }
    this.#trim(delivery.webhook_id);
    await this.#save();
    return dropped;
  }

  /** Notes one attempt (keeping the last few) and saves. */
  async attempted(delivery: Delivery, attempt: DeliveryAttempt): Promise<void> {
    delivery.attempts++;
    delivery.log.push(attempt);
    if (delivery.log.length > ATTEMPTS_KEPT) {
      delivery.log.splice(0, delivery.log.length - ATTEMPTS_KEPT);
    }
    this.#trim(delivery.webhook_id);
    await this.#save();
  }

  /** Ends a delivery (its body is no longer needed) or sets when it is tried next. */
  finish(delivery: Delivery, status: "delivered" | "failed", next: string | null): void {
    delivery.status = status;
    delivery.next_attempt_at = next;
    delivery.body = null;
  }

  /** Keeps every waiting delivery and the newest finished ones of a webhook. */
  #trim(webhookId: string): void {
    const finished = this.#data.deliveries.filter(
      (d) => d.webhook_id === webhookId && d.status !== "pending",
    );
    if (finished.length <= LOG_PER_WEBHOOK) return;
    const old = new Set(finished.slice(0, finished.length - LOG_PER_WEBHOOK));
    this.#data.deliveries = this.#data.deliveries.filter((d) => !old.has(d));
  }

  /** Saves now; used after changing a delivery in place. */
  save(): Promise<void> {
    return this.#save();
  }

  #save(): Promise<void> {
    const text = JSON.stringify(this.#data);
    this.#writes = this.#writes.catch(() => {}).then(() =>
      writeFileAtomic(this.#path, text, 0o600)
    );
    return this.#writes;
  }
}

function view(webhook: Webhook): WebhookView {
  const { secret: _secret, ...rest } = webhook;
  return { ...rest, events: [...rest.events] };
}
