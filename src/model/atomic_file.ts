/**
 * Replaces a file's contents all at once: written to `<path>.tmp`, then renamed over the file, so
 * that a crash leaves the old contents or the new, never half of either. With `mode`, the file
 * has that mode whatever the umask (secrets are 0600).
 */
export async function writeFileAtomic(path: string, text: string, mode?: number): Promise<void> {
  const scratch = `${path}.tmp`;
  await Deno.writeTextFile(scratch, text, mode === undefined ? {} : { mode });
  if (mode !== undefined) await Deno.chmod(scratch, mode);
  await Deno.rename(scratch, path);
}
