import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt cost: 2^15 iterations of 8-block mixing, ~0.2 s and 32 MiB per guess. */
const N = 32768;
const R = 8;
const P = 1;
const KEY_BYTES = 32;

function derive(password: string, salt: Uint8Array, n: number, r: number, p: number) {
  return new Promise<Uint8Array>((resolve, reject) =>
    scrypt(
      password,
      salt,
      KEY_BYTES,
      { N: n, r, p, maxmem: 256 * n * r },
      (error, key) => error ? reject(error) : resolve(new Uint8Array(key)),
    )
  );
}

/** A slow, salted hash of a password: `scrypt$N$r$p$<salt>$<key>` (base64). */
export async function hashPassword(password: string): Promise<string> {
  const salt = new Uint8Array(randomBytes(16));
  const key = await derive(password, salt, N, R, P);
  return ["scrypt", N, R, P, btoa(String.fromCharCode(...salt)), btoa(String.fromCharCode(...key))]
    .join("$");
}

/** Whether `password` matches a stored hash; compared in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, key] = stored.split("$");
  if (kind !== "scrypt" || !salt || !key) return false;
  const expected = Uint8Array.from(atob(key), (c) => c.charCodeAt(0));
  const actual = await derive(
    password,
    Uint8Array.from(atob(salt), (c) => c.charCodeAt(0)),
    Number(n),
    Number(r),
    Number(p),
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
