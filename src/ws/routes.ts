import { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import type { WSContext } from "hono/ws";
import type { Peer, Subscription, WsHub } from "./hub.ts";
import { RequestError } from "../model/errors.ts";

/** Largest message a client may send; anything bigger closes the socket with 1009. */
export const MAX_INBOUND_BYTES = 4096;
/** Messages a client may send in a burst, and per second after it; beyond that, close 1008. */
export const INBOUND_BURST = 20;
export const INBOUND_PER_SECOND = 5;

/** WebSocket endpoints: one task's messages, or every task's. */
export function wsRoutes(hub: WsHub, now: () => number = performance.now.bind(performance)): Hono {
  const ws = new Hono();

  const subscribe = (taskId: string | null) =>
    upgradeWebSocket(() => {
      let subscription: Subscription | null = null;
      let closing = false;
      const budget = new TokenBucket(INBOUND_BURST, INBOUND_PER_SECOND, now);
      const refuse = (socket: WSContext<WebSocket>, code: 1008 | 1009, reason: string) => {
        closing = true;
        hub.countDrop(code === 1009 ? "too_large" : "too_many_messages");
        subscription?.detach();
        // Closed from a later task: Deno drops the connection without a close frame when close()
        // runs while the client's next frames are still being read.
        setTimeout(() => socket.close(code, reason), 0);
      };
      return {
        onOpen: (_event, socket) => {
          subscription = hub.attach(peerOf(socket), taskId);
        },
        onMessage: (event, socket) => {
          if (closing) return;
          if (sizeOf(event.data) > MAX_INBOUND_BYTES) {
            return refuse(socket, 1009, `messages are limited to ${MAX_INBOUND_BYTES} bytes`);
          }
          if (!budget.take()) return refuse(socket, 1008, "too many messages");
          if (isPing(event.data)) {
            subscription?.reply({ type: "pong", task_id: taskId, data: {} });
          }
        },
        onClose: () => subscription?.detach(),
        onError: () => subscription?.detach(),
      };
    });

  // A plain GET (a browser tab, curl without an upgrade) learns what the endpoint is.
  ws.use(async (c, next) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new RequestError(
        426,
        "upgrade_required",
        "this is a WebSocket endpoint: connect with a WebSocket client",
      );
    }
    await next();
  });
  ws.get("/download/:id", (c, next) => subscribe(c.req.param("id"))(c, next));
  ws.get("/downloads", subscribe(null));
  return ws;
}

/** Allows `burst` events at once and `perSecond` on average after that. */
class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(readonly burst: number, readonly perSecond: number, readonly now: () => number) {
    this.#tokens = burst;
    this.#at = now();
  }

  take(): boolean {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#at) / 1000) * this.perSecond);
    this.#at = t;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

function peerOf(socket: WSContext<WebSocket>): Peer {
  const raw = socket.raw!;
  return {
    send: (data) => raw.send(data),
    close: (code, reason) => raw.close(code, reason),
    get bufferedAmount() {
      return raw.bufferedAmount;
    },
  };
}

function sizeOf(data: unknown): number {
  if (typeof data === "string") {
    return data.length > MAX_INBOUND_BYTES / 3
      ? new TextEncoder().encode(data).length
      : data.length;
  }
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (data instanceof Blob) return data.size;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

function isPing(data: unknown): boolean {
  if (typeof data !== "string") return false;
  try {
    const message = JSON.parse(data);
    return typeof message === "object" && message !== null && message.type === "ping";
  } catch {
    return false;
  }
}
