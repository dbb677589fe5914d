const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
] as const;

/**
 * Checks a five-field cron expression the way `Deno.cron` reads it (numbers, `*`, ranges, steps,
 * lists), so that a bad schedule stops start-up before any work is done instead of throwing from
 * `Deno.cron` afterwards. Returns null when valid, otherwise what is wrong.
 */
export function cronProblem(expression: string): string | null {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) return `must have five fields, has ${parts.length}`;
  for (const [i, part] of parts.entries()) {
    const { name, min, max } = FIELDS[i];
    for (const item of part.split(",")) {
      const match = item.match(/^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/);
      if (!match) return `${name} field '${item}' is not a number, range, * or step`;
      const [, , from, to, step] = match;
      for (const value of [from, to]) {
        if (value !== undefined && (Number(value) < min || Number(value) > max)) {
          return `${name} ${value} is outside ${min}-${max}`;
        }
      }
      if (from !== undefined && to !== undefined && Number(to) < Number(from)) {
        return `${name} range ${from}-${to} runs backwards`;
      }
      if (step !== undefined && (Number(step) < 1 || Number(step) > max)) {
        return `${name} step ${step} is outside 1-${max}`;
      }
    }
  }
  return null;
}
