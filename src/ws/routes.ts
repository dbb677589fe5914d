import { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import type { WSContext } from "hono/ws";
import type { Peer, WsHub } from "./hub.ts";

/** WebSocket endpoints: one task's messages, or every task's. */
export function wsRoutes(hub: WsHub): Hono {
  const ws = new Hono();

  const subscribe = (taskId: string | null) =>
    upgradeWebSocket(() => {
      let detach = () => {};
      return {
        onOpen: (_event, socket) => {
          detach = hub.attach(peerOf(socket), taskId);
        },
        onMessage: (event, socket) => {
          if (isPing(event.data)) {
            hub.reply(peerOf(socket), { type: "pong", task_id: taskId, data: {} });
          }
        },
        onClose: () => detach(),
        onError: () => detach(),
      };
    });

  ws.get("/download/:id", (c, next) => subscribe(c.req.param("id"))(c, next));
  ws.get("/downloads", subscribe(null));
  return ws;
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

function isPing(data: unknown): boolean {
  if (typeof data !== "string" || data.length > 1024) return false;
  try {
    const message = JSON.parse(data);
    return typeof message === "object" && message !== null && message.type === "ping";
  } catch {
    return false;
  }
}
