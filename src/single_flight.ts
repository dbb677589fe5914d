/**
 * Wraps an async function so that concurrent callers share one run: while a call is in flight,
 * later ones get its promise instead of starting another. A hundred health checks at once then
 * cost one probe, not a hundred.
 */
export function singleFlight<T>(run: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | null = null;
  return () => {
    inFlight ??= run().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
}
