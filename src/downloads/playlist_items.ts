/**
 * The 1-based indexes `spec` selects among `count` entries, in order and without repeats, at most
 * `max` of them. `spec` is yt-dlp's simple syntax (`1-3,7,10-12`); null selects all.
 */
export function playlistIndexes(spec: string | null, count: number, max: number): number[] {
  const chosen = new Set<number>();
  const parts = spec === null ? [`1-${count}`] : spec.split(",");
  for (const part of parts) {
    const [from, to = from] = part.split("-").map(Number);
    for (let i = from; i <= Math.min(to, count) && chosen.size < max; i++) {
      if (i >= 1) chosen.add(i);
    }
  }
  return [...chosen].sort((a, b) => a - b);
}
