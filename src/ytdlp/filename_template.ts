/** The fields a file name may use, and how much of each (yt-dlp's `.NB`: at most N bytes). */
const FIELDS: Record<string, string> = {
  title: ".120B",
  id: ".40B",
  uploader: ".60B",
  upload_date: "",
  resolution: "",
  playlist_index: "",
  ext: "",
};

/**
 * Why a user's file-name template is refused, or null. Only `%(field)s` of the safe fields and
 * plain text are allowed, ending in `.%(ext)s`: no path separators, no `..`, no other `%`
 * directives (yt-dlp's templates can reach any metadata and format specs), so a template can
 * never become a path outside the task's directory.
 */
export function templateProblem(template: string): string | null {
  if (template.length === 0 || template.length > 200) return "must be 1 to 200 characters";
  if (!template.endsWith(".%(ext)s")) return "must end with .%(ext)s";
  if ([...template].some((ch) => ch === "/" || ch === "\\" || ch < " " || ch === "\x7f")) {
    return "must not contain path separators or control characters";
  }
  if (template.startsWith(".") || template.includes("..")) {
    return "must not start with a dot or contain ..";
  }
  const rest = template.replace(
    /%\((\w+)\)s/g,
    (whole, field: string) => field in FIELDS ? "" : whole,
  );
  const bad = rest.match(/%\([^)]*\)\w?|%./);
  if (bad) {
    return `'${bad[0]}' is not allowed; use %(field)s with one of ${
      Object.keys(FIELDS).join(", ")
    }`;
  }
  return null;
}

/** The template yt-dlp is given: each field capped in length. Call on a checked template only. */
export function ytdlpTemplate(template: string): string {
  return template.replace(
    /%\((\w+)\)s/g,
    (_, field: string) => `%(${field})${FIELDS[field] || "s"}`,
  );
}
