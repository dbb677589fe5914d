/** Random URL-safe text (base64url of `bytes` random bytes), for ids and secrets. */
export function randomText(bytes: number): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(bytes))))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
