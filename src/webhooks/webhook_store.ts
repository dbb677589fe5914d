import { SharedJsonFile } from "../model/shared_json_file.ts";
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

type Data = z.infer<typeof fileSchema>;

/**
 * Webhooks, their secrets and their deliveries (waiting ones with their bodies, so that retries
 * outlive a restart), in one file readable by the service's user only. The nodes of a cluster
 * share it: a webhook added on one node is seen by every node at its next look (one stat), and
 * each change is made to the file as it is on disk. A delivery belongs to the node sending it
 * (the cluster's one dispatcher, or the node that sends a ping): that node's copy of it is the one
 * written, whatever the file says.
 */
export class WebhookStore {
  readonly #file: SharedJsonFile<Data>;
  #data: Data = { version: 1, webhooks: [], deliveries: [] };
  /** Deliveries this node is sending, by id. */
  readonly #owned = new Map<string, Delivery>();

  private constructor(path: string) {
    this.#file = new SharedJsonFile(path, (value) => {
      const parsed = fileSchema.safeParse(value);
      return parsed.success ? parsed.data : null;
    });
  }

  /** Loads the file; a missing one is an empty store, a damaged one an error naming it. */
  static async open(path: string): Promise<WebhookStore> {
    const store = new WebhookStore(path);
    try {
      store.#data = (await store.#file.read()) ?? store.#data;
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      throw new Error(
        `${path} is not a valid webhooks file; move it away to start without webhooks`,
      );
    }
    return store;
  }

  list(): WebhookView[] {
    this.#reload();
    return this.#data.webhooks.map(view);
  }

  /** The webhook with its secret, for signing; null when there is none. */
  get(id: string): Webhook | null {
    this.#reload();
    return this.#data.webhooks.find((w) => w.id === id) ?? null;
  }

  /** Webhooks that want an event. */
  subscribers(event: WebhookEvent): Webhook[] {
    this.#reload();
    return this.#data.webhooks.filter((w) => w.events.includes(event));
  }

  async add(webhook: Webhook): Promise<void> {
    await this.#change((data) => {
      data.webhooks.push(webhook);
    });
  }

  /** Removes a webhook with its log and anything still waiting; false when there is none. */
  async remove(id: string): Promise<boolean> {
    let found = false;
    await this.#change((data) => {
      const before = data.webhooks.length;
      data.webhooks = data.webhooks.filter((w) => w.id !== id);
      found = data.webhooks.length !== before;
      data.deliveries = data.deliveries.filter((d) => d.webhook_id !== id);
    });
    for (const [key, delivery] of this.#owned) {
      if (delivery.webhook_id === id) this.#owned.delete(key);
    }
    return found;
  }

  /** A webhook's deliveries, newest first. */
  deliveries(webhookId: string): DeliveryView[] {
    this.#reload();
    return this.#data.deliveries
      .filter((d) => d.webhook_id === webhookId)
      .reverse()
      .map(({ body: _body, ...rest }) => ({ ...rest, log: [...rest.log] }));
  }

  /** Deliveries still to be made, oldest first; the caller sends them from now on. */
  pending(): Delivery[] {
    this.#reload();
    const waiting = this.#data.deliveries.filter((d) => d.status === "pending");
    for (const delivery of waiting) this.#owned.set(delivery.id, delivery);
    return waiting;
  }

  /** Records a new delivery; gives up the oldest waiting one when a webhook has too many. */
  async enqueue(delivery: Delivery): Promise<Delivery[]> {
    this.#owned.set(delivery.id, delivery);
    let dropped: Delivery[] = [];
    await this.#change((data) => {
      data.deliveries.push(delivery);
      const waiting = data.deliveries.filter(
        (d) => d.webhook_id === delivery.webhook_id && d.status === "pending",
      );
      dropped = waiting.slice(0, Math.max(0, waiting.length - PENDING_PER_WEBHOOK));
      for (const old of dropped) {
        this.finish(old, "failed", null);
        old.log.push({
          at: delivery.created_at,
          status_code: null,
          error: `given up: more than ${PENDING_PER_WEBHOOK} deliveries waiting`,
          duration_ms: 0,
        });
      }
      this.#trim(data, delivery.webhook_id);
    });
    return dropped;
  }

  /** Notes one attempt (keeping the last few) and saves. */
  async attempted(delivery: Delivery, attempt: DeliveryAttempt): Promise<void> {
    delivery.attempts++;
    delivery.log.push(attempt);
    if (delivery.log.length > ATTEMPTS_KEPT) {
      delivery.log.splice(0, delivery.log.length - ATTEMPTS_KEPT);
    }
    await this.#change((data) => this.#trim(data, delivery.webhook_id));
  }

  /** Ends a delivery (its body is no longer needed) or sets when it is tried next. */
  finish(delivery: Delivery, status: "delivered" | "failed", next: string | null): void {
    delivery.status = status;
    delivery.next_attempt_at = next;
    delivery.body = null;
  }

  /** Keeps every waiting delivery and the newest finished ones of a webhook. */
  #trim(data: Data, webhookId: string): void {
    const finished = data.deliveries.filter(
      (d) => d.webhook_id === webhookId && d.status !== "pending",
    );
    if (finished.length <= LOG_PER_WEBHOOK) return;
    const old = new Set(finished.slice(0, finished.length - LOG_PER_WEBHOOK));
    data.deliveries = data.deliveries.filter((d) => !old.has(d));
  }

  /** Saves now; used after changing a delivery in place. */
  save(): Promise<void> {
    return this.#change(() => {});
  }

  /** Takes in what another node changed, keeping this node's own deliveries as it has them. */
  #reload(): void {
    const fresh = this.#file.changed();
    if (fresh !== null) this.#data = this.#withOwn(fresh);
  }

  /** Changes the file as it is on disk now; this node's deliveries are written as it has them. */
  async #change(change: (data: Data) => void): Promise<void> {
    this.#data = await this.#file.update(() => this.#data, (data) => {
      const merged = this.#withOwn(data);
      data.deliveries = merged.deliveries;
      change(data);
    });
    // Finished ones are no longer this node's to send.
    for (const [id, delivery] of this.#owned) {
      if (delivery.status !== "pending") this.#owned.delete(id);
    }
  }

  #withOwn(data: Data): Data {
    const deliveries = data.deliveries.map((d) => this.#owned.get(d.id) ?? d);
    return { ...data, deliveries };
  }
}

function view(webhook: Webhook): WebhookView {
  const { secret: _secret, ...rest } = webhook;
  return { ...rest, events: [...rest.events] };
}
