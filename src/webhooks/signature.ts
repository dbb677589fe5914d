import { createHmac } from "node:crypto";

/**
 * The `Ytdl-Signature` header of a delivery: `t=<unix seconds>,v1=<hex HMAC-SHA256>` over
 * `<t>.<body>` with the webhook's secret (the GitHub/Stripe scheme). Signing the time with the body
 * lets a receiver refuse old deliveries replayed at it.
 */
export function signatureHeader(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}
