/**
 * A WebSocket reader for the fan-out benchmark, where one process holds a thousand or more
 * subscribers on a machine it shares with the service. The runtime's WebSocket dispatches one
 * event per message on every socket, so with 1000 sockets the benchmark's own event handling,
 * not the service's sending, decided when the last subscriber "heard" the end. This reader does
 * the handshake over raw TCP and parses frames straight from each read, so a read that brings
 * several frames costs one wake-up. It only reads: server frames are never masked, and it never
 * sends anything after the handshake (a close frame from the server ends it).
 */

import { writeAll } from "../src/conn_io.ts";

/** One server-to-client message, as it arrived. */
export interface LeanMessage {
  /** When its last byte was read (performance.now()). */
  at: number;
  /** The frame's payload, UTF-8 JSON for this service. */
  payload: Uint8Array;
}

/** A subscriber opened with {@link openLean}. */
export interface LeanSocket {
  /** Resolves once the server has answered 101. */
  opened: Promise<void>;
  /** Resolves when the server closes (a close frame or end of stream). */
  closed: Promise<void>;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Connects to `origin` + `path` as a WebSocket client and calls `onMessage` for each text frame.
 * `onMessage` should look at as few bytes as it needs: that is the point of this reader.
 */
export function openLean(
  origin: string,
  path: string,
  onMessage: (message: LeanMessage) => void,
): LeanSocket {
  const url = new URL(origin);
  const opened = Promise.withResolvers<void>();
  const closed = (async () => {
    const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
    try {
      const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
      await writeAll(
        conn,
        encoder.encode(
          `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      let buffer: Uint8Array = new Uint8Array(0);
      let upgraded = false;
      const chunk = new Uint8Array(64 * 1024);
      while (true) {
        const n = await conn.read(chunk);
        if (n === null) break;
        const at = performance.now();
        buffer = concat(buffer, chunk.subarray(0, n));
        if (!upgraded) {
          const end = indexOfHeaderEnd(buffer);
          if (end < 0) continue;
          const head = decoder.decode(buffer.subarray(0, end));
          if (!head.startsWith("HTTP/1.1 101")) throw new Error(`no upgrade: ${head}`);
          upgraded = true;
          opened.resolve();
          buffer = buffer.subarray(end + 4);
        }
        const [consumed, ended] = parseFrames(buffer, at, onMessage);
        buffer = buffer.subarray(consumed);
        if (ended) break;
      }
    } finally {
      opened.reject(new Error(`${path}: closed before the upgrade`));
      conn.close();
    }
  })();
  opened.promise.catch(() => {});
  return { opened: opened.promise, closed };
}

/** Parses whole frames from the front of `buffer`; returns bytes used and whether a close came. */
function parseFrames(
  buffer: Uint8Array,
  at: number,
  onMessage: (message: LeanMessage) => void,
): [number, boolean] {
  let offset = 0;
  while (buffer.length - offset >= 2) {
    const opcode = buffer[offset] & 0x0f;
    let length = buffer[offset + 1] & 0x7f;
    let header = 2;
    if (length === 126) {
      if (buffer.length - offset < 4) break;
      length = (buffer[offset + 2] << 8) | buffer[offset + 3];
      header = 4;
    } else if (length === 127) {
      if (buffer.length - offset < 10) break;
      const view = new DataView(buffer.buffer, buffer.byteOffset + offset + 2, 8);
      length = Number(view.getBigUint64(0));
      header = 10;
    }
    if (buffer.length - offset < header + length) break;
    const payload = buffer.subarray(offset + header, offset + header + length);
    offset += header + length;
    if (opcode === 0x8) return [offset, true];
    if (opcode === 0x1) onMessage({ at, payload });
  }
  return [offset, false];
}

function indexOfHeaderEnd(buffer: Uint8Array): number {
  for (let i = 0; i + 3 < buffer.length; i++) {
    if (buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** True when a JSON payload starts with `{"type":"<type>"`, the service's key order. */
export function isType(payload: Uint8Array, type: string): boolean {
  const prefix = encoder.encode(`{"type":"${type}"`);
  if (payload.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (payload[i] !== prefix[i]) return false;
  return true;
}

/** The payload as a parsed JSON message, for the few frames worth decoding. */
export function parsed(payload: Uint8Array): { type: string; data: Record<string, unknown> } {
  return JSON.parse(decoder.decode(payload));
}
