import type { LogFields } from "../log/logger.ts";
import type { TaskEvent } from "../downloads/manager.ts";
import { SeenKeys, type TaskEnding, taskEndingOf } from "../downloads/task_ending.ts";
import type { Task } from "../model/task.ts";
import type { Egress } from "../net/egress_proxy.ts";
import { signatureHeader } from "./signature.ts";
import type {
  Delivery,
  DeliveryEvent,
  DeliveryView,
  Webhook,
  WebhookEvent,
  WebhookStore,
} from "./webhook_store.ts";

/** Where task events come from (the download manager). */
export interface WebhookFeed {
  subscribe(listener: (event: TaskEvent) => void): () => void;
}

export interface WebhookDispatcherOptions {
  store: WebhookStore;
  egress: Egress;
  log: (message: string, fields?: LogFields) => void;
  now?: () => number;
  /** Wait before attempt `n + 1` after `n` failed ones; default 10 s doubling up to 1 h. */
  retryDelayMs?: (failedAttempts: number) => number;
  /** A delivery not made within this long after its event is given up; default 24 h. */
  giveUpAfterMs?: number;
  /** How long a receiver may take to answer; default 10 s. */
  timeoutMs?: number;
  /** Deliveries in flight at once. */
  concurrency?: number;
}

const DAY_MS = 86400_000;

/** The default backoff: 10 s, 20 s, 40 s, … capped at an hour, so about 30 tries in 24 h. */
export function defaultRetryDelayMs(failedAttempts: number): number {
  return Math.min(10_000 * 2 ** (failedAttempts - 1), 3_600_000);
}

/** Which webhook event a task event is, if any. */
export function webhookEventOf({ outcome, task }: TaskEnding): WebhookEvent {
  return outcome === "completed" && task.kind === "playlist" ? "group_completed" : outcome;
}

/**
 * Turns finished tasks into signed POSTs to each webhook that asked for them. Every delivery goes
 * through the egress proxy, so a webhook is held to the same URL policy as a download on every
 * connection; failures are retried with exponential backoff for 24 h, and every attempt is logged
 * on the delivery. Waiting deliveries are saved and resumed after a restart.
 */
export class WebhookDispatcher implements AsyncDisposable {
  readonly #options: Required<WebhookDispatcherOptions>;
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #controller = new AbortController();
  readonly #seen = new SeenKeys();
  readonly #listeners = new Set<(delivery: DeliveryView) => void>();
  readonly #ready: Delivery[] = [];
  readonly #running = new Set<Promise<void>>();
  #enqueueing: Promise<void> = Promise.resolve();
  #unsubscribe: () => void = () => {};

  constructor(options: WebhookDispatcherOptions) {
    this.#options = {
      ...options,
      now: options.now ?? Date.now,
      retryDelayMs: options.retryDelayMs ?? defaultRetryDelayMs,
      giveUpAfterMs: options.giveUpAfterMs ?? DAY_MS,
      timeoutMs: options.timeoutMs ?? 10_000,
      concurrency: options.concurrency ?? 4,
    };
  }

  /**
   * Starts delivering: resumes saved deliveries and listens to the feed (the manager's events, or
   * on a cluster the event stream, on the one node that holds the webhook lease).
   */
  start(feed: WebhookFeed): void {
    this.#unsubscribe();
    const now = this.#options.now();
    for (const delivery of this.#options.store.pending()) {
      const at = delivery.next_attempt_at === null ? now : Date.parse(delivery.next_attempt_at);
      this.#schedule(delivery, at);
    }
    this.#unsubscribe = feed.subscribe((event) => this.#onEvent(event));
  }

  /**
   * Stops listening and scheduling (another node of the cluster took over); attempts under way
   * finish. `start` may be called again.
   */
  stop(): void {
    this.#unsubscribe();
    this.#unsubscribe = () => {};
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#ready.length = 0;
  }

  /** Resolves once every event heard so far has its deliveries recorded. */
  async settled(): Promise<void> {
    await this.#enqueueing;
  }

  /** Hears about every attempt's result (for tests and logs). */
  onAttempt(listener: (delivery: DeliveryView) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sends a `ping` delivery now, so an admin can try a receiver. */
  async ping(webhook: Webhook): Promise<DeliveryView> {
    const delivery = await this.#enqueue(webhook, "ping", null);
    return this.#view(delivery);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#unsubscribe();
    this.#controller.abort();
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#ready.length = 0;
    await this.#enqueueing;
    await Promise.all(this.#running);
    await this.#options.store.save();
  }

  #onEvent(event: TaskEvent): void {
    const ending = taskEndingOf(event);
    // A task reports each end once; a retried task may end again later, with a new key.
    if (ending === null || !this.#seen.add(ending.key)) return;
    const found = { event: webhookEventOf(ending), task: ending.task };
    const webhooks = this.#options.store.subscribers(found.event);
    if (webhooks.length === 0) return;
    this.#enqueueing = this.#enqueueing.then(async () => {
      for (const webhook of webhooks) await this.#enqueue(webhook, found.event, found.task);
    }).catch((error) => this.#options.log("webhooks: could not record a delivery", { error }));
  }

  async #enqueue(webhook: Webhook, event: DeliveryEvent, task: Task | null): Promise<Delivery> {
    const id = crypto.randomUUID();
    const createdAt = new Date(this.#options.now()).toISOString();
    const body = JSON.stringify({ id, event, created_at: createdAt, task });
    const delivery: Delivery = {
      id,
      webhook_id: webhook.id,
      event,
      task_id: task?.task_id ?? null,
      created_at: createdAt,
      status: "pending",
      attempts: 0,
      log: [],
      next_attempt_at: null,
      body,
    };
    const dropped = await this.#options.store.enqueue(delivery);
    for (const old of dropped) this.#cancelTimer(old.id);
    this.#schedule(delivery, this.#options.now());
    return delivery;
  }

  #schedule(delivery: Delivery, at: number): void {
    if (this.#controller.signal.aborted) return;
    this.#cancelTimer(delivery.id);
    const delay = Math.min(Math.max(0, at - this.#options.now()), 2 ** 31 - 1);
    const timer = setTimeout(() => {
      this.#timers.delete(delivery.id);
      this.#ready.push(delivery);
      this.#drain();
    }, delay);
    this.#timers.set(delivery.id, timer);
  }

  #cancelTimer(id: string): void {
    const timer = this.#timers.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.#timers.delete(id);
  }

  #drain(): void {
    while (this.#running.size < this.#options.concurrency && this.#ready.length > 0) {
      const delivery = this.#ready.shift()!;
      const run: Promise<void> = this.#attempt(delivery)
        .catch((error) =>
          this.#options.log("webhooks: delivery failed", { delivery_id: delivery.id, error })
        )
        .finally(() => {
          this.#running.delete(run);
          this.#drain();
        });
      this.#running.add(run);
    }
  }

  async #attempt(delivery: Delivery): Promise<void> {
    const { store, now, log } = this.#options;
    const webhook = store.get(delivery.webhook_id);
    if (webhook === null || delivery.status !== "pending" || delivery.body === null) return;
    const started = now();
    const result = await this.#post(webhook, delivery.body, delivery);
    if (result === null) return; // Shutting down: the delivery stays waiting for the next start.
    await store.attempted(delivery, {
      at: new Date(started).toISOString(),
      status_code: result.status,
      error: result.error,
      duration_ms: Math.max(0, now() - started),
    });
    if (result.error === null) {
      store.finish(delivery, "delivered", null);
    } else {
      const next = now() + this.#options.retryDelayMs(delivery.attempts);
      const deadline = Date.parse(delivery.created_at) + this.#options.giveUpAfterMs;
      if (result.final || next > deadline) {
        store.finish(delivery, "failed", null);
        log(`webhooks: gave up a delivery after ${delivery.attempts} attempts`, {
          webhook_id: webhook.id,
          delivery_id: delivery.id,
          event: delivery.event,
          task_id: delivery.task_id,
          error: result.error,
        });
      } else {
        delivery.next_attempt_at = new Date(next).toISOString();
        this.#schedule(delivery, next);
        log("webhooks: delivery failed; will retry", {
          webhook_id: webhook.id,
          delivery_id: delivery.id,
          event: delivery.event,
          task_id: delivery.task_id,
          error: result.error,
          retry_in_s: Math.round((next - now()) / 1000),
        });
      }
    }
    await store.save();
    const view = this.#view(delivery);
    for (const listener of this.#listeners) listener(view);
  }

  /**
   * One POST through the egress proxy. The proxy's own verdicts (refused by policy, unreachable)
   * win over any status it answered with, so a refusal is never mistaken for the receiver's reply.
   */
  async #post(
    webhook: Webhook,
    body: string,
    delivery: Delivery,
  ): Promise<{ status: number | null; error: string | null; final: boolean } | null> {
    let refused: string | null = null;
    let unreachable = false;
    using session = this.#options.egress.open({
      onRefused: (_host, message) => refused ??= message,
      onUnreachable: () => unreachable = true,
    });
    const proxy = new URL(session.proxyUrl);
    using client = Deno.createHttpClient({
      proxy: {
        url: `${proxy.protocol}//${proxy.host}`,
        basicAuth: {
          username: decodeURIComponent(proxy.username),
          password: decodeURIComponent(proxy.password),
        },
      },
    });
    const timeout = AbortSignal.timeout(this.#options.timeoutMs);
    const host = new URL(webhook.url).host;
    let status: number | null = null;
    try {
      const response = await fetch(webhook.url, {
        method: "POST",
        client,
        redirect: "manual",
        signal: AbortSignal.any([this.#controller.signal, timeout]),
        headers: {
          "content-type": "application/json",
          "user-agent": "ytdl-live-webhooks/1",
          "ytdl-event": delivery.event,
          "ytdl-delivery": delivery.id,
          "ytdl-signature": signatureHeader(
            webhook.secret,
            Math.floor(this.#options.now() / 1000),
            body,
          ),
        },
        body,
      });
      status = response.status;
      await response.body?.cancel();
    } catch {
      if (this.#controller.signal.aborted) return null;
      if (refused === null && !unreachable) {
        return {
          status: null,
          error: timeout.aborted
            ? `${host} did not answer within ${this.#options.timeoutMs / 1000} s`
            : `could not connect to ${host}`,
          final: false,
        };
      }
    }
    if (refused !== null) return { status: null, error: refused, final: true };
    if (unreachable) return { status: null, error: `could not connect to ${host}`, final: false };
    if (status !== null && status >= 200 && status < 300) {
      return { status, error: null, final: false };
    }
    const redirect = status !== null && status >= 300 && status < 400;
    return {
      status,
      error: `${host} answered HTTP ${status}${redirect ? " (redirects are not followed)" : ""}`,
      final: false,
    };
  }

  #view(delivery: Delivery): DeliveryView {
    const { body: _body, ...rest } = delivery;
    return { ...rest, log: [...rest.log] };
  }
}
