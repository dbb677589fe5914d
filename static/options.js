// The advanced options of a download (remembered between visits) and the format picker.

const STORAGE_KEY = "advanced";
const $ = (selector, root = document) => root.querySelector(selector);

/** Every control of the advanced section, by the option it sets. */
function controls() {
  return [...document.querySelectorAll("[data-option]")];
}

/** Puts back the values last used. */
export function restoreAdvanced(storage) {
  let saved = {};
  try {
    saved = JSON.parse(storage.getItem(STORAGE_KEY) ?? "{}");
  } catch {
    // A broken entry is forgotten.
  }
  for (const control of controls()) {
    const value = saved[control.dataset.option];
    if (value === undefined) continue;
    if (control.type === "checkbox") control.checked = Boolean(value);
    else control.value = String(value);
  }
}

/** Remembers the values for next time. */
export function rememberAdvanced(storage) {
  const values = {};
  for (const control of controls()) {
    values[control.dataset.option] = control.type === "checkbox" ? control.checked : control.value;
  }
  storage.setItem(STORAGE_KEY, JSON.stringify(values));
}

/** The request fields the advanced section asks for; empty fields are left to the server. */
export function advancedFields() {
  const value = (name) => $(`[data-option="${name}"]`);
  const text = (name) => value(name).value.trim();
  const body = {};
  for (const name of ["container", "codec", "filename_template", "rate_limit", "playlist_items"]) {
    if (text(name)) body[name] = text(name);
  }
  const subtitles = text("subtitles");
  if (subtitles) {
    body.subtitles = subtitles === "all" ? "all" : subtitles.split(/[\s,]+/).filter(Boolean);
    body.subtitle_format = text("subtitle_format");
  }
  for (
    const name of [
      "auto_subtitles",
      "embed_subtitles",
      "embed_thumbnail",
      "embed_metadata",
      "embed_chapters",
      "split_chapters",
      "cookies",
    ]
  ) body[name] = value(name).checked;
  if (text("section_start") || text("section_end")) {
    body.section = { start: text("section_start") || "0", end: text("section_end") };
  }
  return body;
}

/**
 * Lists what yt-dlp sees for a URL and lets one be picked; `onPick` gets the format id to send (a
 * video-only format is paired with the best audio) and a label for it.
 */
export async function pickFormat(url, t, onPick) {
  const message = $("#format-message");
  const table = $("#format-list");
  message.textContent = t("formatsLoading");
  table.hidden = true;
  const response = await fetch(`/api/v1/formats?url=${encodeURIComponent(url)}`);
  const body = await response.json();
  if (!response.ok) {
    message.textContent = body.error?.message ?? response.statusText;
    return;
  }
  if (body.kind === "playlist") {
    message.textContent = t("formatsPlaylist", { count: body.entries ?? "?" });
    return;
  }
  message.textContent = "";
  const rows = body.formats.map((format) => {
    const row = document.createElement("tr");
    const codecs = [format.vcodec, format.acodec].filter(Boolean).join(" + ");
    const size = format.size ? `${(format.size / 1e6).toFixed(1)} MB` : "";
    for (const cell of [format.format_id, format.ext, format.resolution ?? "", codecs, size]) {
      const td = document.createElement("td");
      td.textContent = cell ?? "";
      row.append(td);
    }
    const use = document.createElement("button");
    use.type = "button";
    use.className = "secondary";
    use.textContent = t("formatUse");
    use.addEventListener("click", () => {
      const videoOnly = format.vcodec && !format.acodec;
      const id = videoOnly ? `${format.format_id}+bestaudio` : format.format_id;
      onPick(id, `${format.format_id} · ${format.ext ?? ""} ${format.resolution ?? ""}`.trim());
      table.hidden = true;
    });
    const td = document.createElement("td");
    td.append(use);
    row.append(td);
    return row;
  });
  $("tbody", table).replaceChildren(...rows);
  table.hidden = rows.length === 0;
}
