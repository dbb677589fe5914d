import { errorText, initialLanguage, translate } from "/static/i18n.js";
import { advancedFields, pickFormat, rememberAdvanced, restoreAdvanced } from "/static/options.js";

const ACTIVE = new Set(["queued", "downloading", "processing", "retrying"]);
const $ = (selector, root = document) => root.querySelector(selector);

const state = {
  lang: initialLanguage(localStorage, navigator.languages ?? [navigator.language]),
  tasks: new Map(),
  announced: new Map(),
  retryDelay: 1000,
  /** A format picked from the list, sent as format_id. */
  formatId: null,
};

const t = (key, params) => translate(state.lang, key, params);

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  const button = $("#lang");
  button.textContent = t("language");
  button.setAttribute("aria-label", t("languageLabel"));
  button.lang = state.lang === "ko" ? "en" : "ko";
  for (const task of state.tasks.values()) render(task);
  updateEmpty();
  renderYtdlp();
  renderCookies();
}

function formatBytes(bytes) {
  if (bytes == null) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}

/** The row of a task; a playlist's entries live inside the playlist's row. */
function rowFor(task) {
  let row = document.getElementById(`task-${task.task_id}`);
  if (!row) {
    row = $("#task-row").content.firstElementChild.cloneNode(true);
    row.id = `task-${task.task_id}`;
    row.dataset.id = task.task_id;
    $(".cancel", row).addEventListener("click", () => act(task.task_id, "cancel"));
    $(".remove", row).addEventListener("click", () => {
      const current = state.tasks.get(task.task_id);
      if (current?.status === "completed" && !confirm(t("removeConfirm"))) return;
      act(task.task_id, "remove");
    });
    $(".retry", row).addEventListener("click", () => act(task.task_id, "retry"));
    $(".toggle", row).addEventListener("click", () => {
      const open = $(".toggle", row).getAttribute("aria-expanded") !== "true";
      $(".toggle", row).setAttribute("aria-expanded", String(open));
      $(".children", row).hidden = !open;
      render(state.tasks.get(task.task_id));
    });
  }
  const parent = task.group_id && document.getElementById(`task-${task.group_id}`);
  const list = parent ? $(".children", parent) : $("#tasks");
  if (row.parentElement !== list) {
    if (parent) {
      // Entries in playlist order.
      const after = [...list.children].find((other) =>
        (state.tasks.get(other.dataset.id)?.playlist_index ?? 0) > (task.playlist_index ?? 0)
      );
      list.insertBefore(row, after ?? null);
    } else {
      list.prepend(row);
    }
  }
  // Entries that arrived before their playlist move in now.
  if (task.kind === "playlist") {
    for (const id of task.children ?? []) {
      const child = state.tasks.get(id);
      if (child && document.getElementById(`task-${id}`)?.parentElement !== $(".children", row)) {
        rowFor(child);
      }
    }
  }
  return row;
}

function formatDuration(seconds) {
  if (seconds == null) return "";
  const s = Math.round(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  return s >= 3600
    ? `${Math.floor(s / 3600)}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`
    : `${Math.floor(s / 60)}:${pad(s % 60)}`;
}

/** What a row is: what was asked for, how long, which file, when. */
function describe(task) {
  const what = task.kind === "playlist"
    ? t("playlistEntries", {
      done: task.entries?.completed ?? 0,
      total: task.entries?.total ?? 0,
      failed: task.entries?.failed ?? 0,
    })
    : task.format === "audio"
    ? `${t("audio")} · ${task.audio_format}`
    : task.format === "subtitles"
    ? t("subtitlesOnly")
    : [
      t("video"),
      task.format_id ?? (task.quality === "best" ? t("best") : task.quality),
      task.container,
      task.section ? `${task.section.start}–${task.section.end}` : null,
    ].filter(Boolean).join(" · ");
  const when = new Date(task.created_at).toLocaleString(state.lang, {
    dateStyle: "short",
    timeStyle: "short",
  });
  return [
    what,
    formatDuration(task.duration),
    task.status === "completed" && task.kind !== "playlist" ? task.filename : null,
    when,
  ].filter(Boolean).join(" · ");
}

function render(task) {
  if (!task) return;
  const row = rowFor(task);
  const named = task.title !== null;
  const title = task.title ?? task.url;
  const progress = task.progress;
  const active = ACTIVE.has(task.status);
  // The last progress (100) arrives just before "completed": never show 100% on a running task.
  const raw = task.status === "completed" ? 100 : progress?.percentage ?? null;
  const pct = raw !== null && active ? Math.min(raw, 99.9) : raw;
  row.dataset.status = task.status;
  row.dataset.kind = task.kind;
  const titleEl = $(".task-title", row);
  titleEl.textContent = title;
  titleEl.classList.toggle("is-url", !named);
  $(".task-info", row).textContent = describe(task);
  const thumb = $(".thumb", row);
  if (task.thumbnail && !thumb.getAttribute("src")) {
    thumb.src = `/api/v1/download/${task.task_id}/thumbnail`;
  }
  thumb.hidden = !task.thumbnail;
  $(".task-status", row).textContent = t(`status_${task.status}`, {
    attempt: task.attempt,
    max: task.max_attempts,
  });

  const bar = $("progress", row);
  if (pct === null) {
    if (active) bar.removeAttribute("value");
    else bar.value = 0;
  } else {
    bar.value = pct;
  }
  bar.setAttribute("aria-label", pct === null ? title : `${title} ${pct}%`);

  $(".pct", row).textContent = pct === null ? "" : `${pct}%`;
  $(".speed", row).textContent = active && progress?.speed ? progress.speed : "";
  $(".eta", row).textContent = active && progress?.eta ? `${progress.eta} ${t("eta")}` : "";
  $(".size", row).textContent = formatBytes(task.filesize ?? progress?.total_bytes);

  // A failure (or the last one before a retry) in the reader's words; yt-dlp's own behind a toggle.
  const error = $(".task-error", row);
  const failure = task.status === "failed" || task.status === "retrying" ? task.error : null;
  error.hidden = failure === null;
  $(".task-error-text", error).textContent = failure
    ? errorText(state.lang, failure.code, failure.message)
    : "";
  $("summary", error).textContent = t("errorDetails");
  $(".task-error-raw", error).textContent = failure ? `${failure.code}: ${failure.message}` : "";

  const warning = $(".task-warning", row);
  const notice = row.dataset.notice ?? "";
  warning.hidden = !task.storage_error && !notice;
  warning.textContent = notice || task.storage_error || "";

  const save = $(".save", row);
  save.hidden = task.status !== "completed";
  save.textContent = t(task.kind === "playlist" ? "saveAll" : "save");
  save.href = `/api/v1/download/${task.task_id}/file`;
  save.setAttribute("download", "");
  $(".retry", row).hidden = task.kind === "playlist" ||
    (task.status !== "failed" && task.status !== "cancelled");
  $(".retry", row).textContent = t("retry");
  $(".cancel", row).hidden = !active;
  $(".cancel", row).textContent = t("cancel");
  $(".remove", row).hidden = active;
  $(".remove", row).textContent = t("remove");
  const toggle = $(".toggle", row);
  toggle.hidden = task.kind !== "playlist";
  toggle.textContent = t(
    toggle.getAttribute("aria-expanded") === "true" ? "hideEntries" : "showEntries",
  );
}

function announce(task) {
  const last = state.announced.get(task.task_id) ?? { status: null, quarter: 0 };
  const title = task.title ?? task.url;
  let text = null;
  if (last.status !== task.status) {
    text = t("announceStatus", { title, status: t(`status_${task.status}`) });
    last.status = task.status;
  } else {
    const quarter = Math.floor((task.progress?.percentage ?? 0) / 25);
    if (quarter > last.quarter && quarter < 4) {
      text = t("announceProgress", { title, pct: quarter * 25 });
    }
    last.quarter = Math.max(last.quarter, quarter);
  }
  state.announced.set(task.task_id, last);
  if (text) $("#announcer").textContent = text;
}

function updateEmpty() {
  $("#empty").hidden = state.tasks.size > 0;
}

function onMessage(message) {
  const id = message.task_id;
  if (message.type === "status") {
    state.tasks.set(id, message.data);
  } else if (message.type === "progress") {
    const task = state.tasks.get(id);
    if (!task) return;
    task.progress = message.data;
  } else if (message.type === "summary") {
    // The snapshot carries the newest tasks only; say how many there are in all.
    const more = $("#more");
    more.hidden = message.data.shown >= message.data.total;
    more.textContent = t("moreTasks", { shown: message.data.shown, total: message.data.total });
    return;
  } else if (message.type === "removed") {
    state.tasks.delete(id);
    state.announced.delete(id);
    const row = document.getElementById(`task-${id}`);
    // A removed playlist's entries stay listed on their own until they are removed too.
    for (const child of row ? [...row.querySelectorAll(".children > li")] : []) {
      $("#tasks").prepend(child);
    }
    row?.remove();
    updateEmpty();
    return;
  } else {
    return;
  }
  const task = state.tasks.get(id);
  render(task);
  announce(task);
  updateEmpty();
}

function connect() {
  const banner = $("#connection");
  const socket = new WebSocket(
    `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/downloads`,
  );
  socket.onopen = () => {
    banner.hidden = true;
    state.retryDelay = 1000;
    // The snapshot that follows is the whole truth; forget what may have changed while away.
    state.tasks.clear();
    $("#tasks").replaceChildren();
  };
  socket.onmessage = (event) => onMessage(JSON.parse(event.data));
  socket.onclose = () => {
    const delay = state.retryDelay;
    state.retryDelay = Math.min(delay * 2, 30_000);
    banner.textContent = t("offline", { s: Math.round(delay / 1000) });
    banner.hidden = false;
    setTimeout(connect, delay);
  };
}

async function submit(body) {
  const response = await fetch("/api/v1/download", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) {
    // The sentence in the reader's language, then the server's words (they name the host).
    const message = json.error?.message ?? response.statusText;
    const sentence = errorText(state.lang, json.error?.code, message);
    throw new Error(sentence === message ? message : `${sentence} (${message})`);
  }
  if (!state.tasks.has(json.task_id)) {
    onMessage({ type: "status", task_id: json.task_id, data: json });
  }
  return json;
}

/**
 * Cancel, remove or retry; the row updates from the socket. A failure (the server is away) is
 * said on the row instead of passing silently.
 */
async function act(id, action) {
  const row = document.getElementById(`task-${id}`);
  try {
    const response = await fetch(
      action === "retry" ? `/api/v1/download/${id}/retry` : `/api/v1/download/${id}`,
      { method: action === "retry" ? "POST" : "DELETE" },
    );
    if (!response.ok && response.status !== 404) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error?.message ?? response.statusText);
    }
    if (row) delete row.dataset.notice;
  } catch (err) {
    if (row) row.dataset.notice = err instanceof TypeError ? t("networkError") : err.message;
  }
  render(state.tasks.get(id));
}

/** The footer: which yt-dlp, how old, whether the last update failed, and a way to update. */
async function loadYtdlp() {
  const response = await fetch("/api/v1/ytdlp").catch(() => null);
  if (!response?.ok) return;
  state.ytdlp = await response.json();
  renderYtdlp();
}

function renderYtdlp() {
  const info = state.ytdlp;
  if (!info) return;
  $("#ytdlp-version").textContent = info.version
    ? t("ytdlpVersion", {
      version: info.version,
      channel: info.channel,
      days: info.release_age_days,
    })
    : t("ytdlpUnavailable", { problem: info.problem });
  const last = info.update?.last_attempt;
  const warnings = [];
  if (info.release_age_days > 30) warnings.push(t("ytdlpOld"));
  if (last?.outcome === "failed") warnings.push(t("ytdlpUpdateFailed", { reason: last.reason }));
  $("#ytdlp-warning").hidden = warnings.length === 0;
  $("#ytdlp-warning").textContent = warnings.join(" ");
  const button = $("#ytdlp-update");
  button.hidden = !info.managed;
  button.textContent = t("ytdlpUpdate");
}

async function updateYtdlp() {
  if (!confirm(t("ytdlpUpdateConfirm"))) return;
  const button = $("#ytdlp-update");
  const message = $("#ytdlp-message");
  button.disabled = true;
  message.textContent = t("ytdlpUpdating");
  try {
    const response = await fetch("/api/v1/ytdlp/update", { method: "POST" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error?.message ?? response.statusText);
    const { attempt } = body;
    state.ytdlp = body.ytdlp;
    message.textContent = attempt.outcome === "updated"
      ? t("ytdlpUpdated", { version: attempt.to })
      : attempt.outcome === "up_to_date"
      ? t("ytdlpUpToDate", { version: attempt.to })
      : t("ytdlpUpdateError", { reason: attempt.reason });
  } catch (err) {
    message.textContent = t("ytdlpUpdateError", { reason: err.message });
  } finally {
    button.disabled = false;
    renderYtdlp();
  }
}

/** The cookies panel: where the stored cookies apply (never their values), upload, delete. */
async function loadCookies() {
  const response = await fetch("/api/v1/cookies").catch(() => null);
  state.cookies = response?.ok ? await response.json() : null;
  renderCookies();
}

function renderCookies() {
  const summary = state.cookies;
  $("#cookies-state").textContent = summary
    ? t("cookiesSome", { count: summary.count })
    : t("cookiesNone");
  $("#cookies-domains").replaceChildren(
    ...(summary?.domains ?? []).map((d) => {
      const item = document.createElement("li");
      const until = d.expires_at
        ? t("cookiesUntil", { date: new Date(d.expires_at).toLocaleDateString(state.lang) })
        : t("cookiesSession");
      item.textContent = `${d.domain} (${d.cookies}, ${until})`;
      return item;
    }),
  );
  const remove = $("#cookies-delete");
  remove.hidden = !summary;
  remove.textContent = t("cookiesDelete");
}

async function uploadCookies(file) {
  const message = $("#cookies-message");
  const response = await fetch("/api/v1/cookies", {
    method: "PUT",
    headers: { "content-type": "text/plain" },
    body: await file.text(),
  });
  const body = await response.json();
  if (response.ok) {
    state.cookies = body;
    message.textContent = t("cookiesSaved");
  } else {
    message.textContent = body.error?.message ?? response.statusText;
  }
  renderCookies();
}

function setUpPanels() {
  $("#ytdlp-update").addEventListener("click", updateYtdlp);
  $("#cookies-file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) uploadCookies(file).finally(() => (event.target.value = ""));
  });
  $("#cookies-delete").addEventListener("click", async () => {
    if (!confirm(t("cookiesDeleteConfirm"))) return;
    await fetch("/api/v1/cookies", { method: "DELETE" });
    $("#cookies-message").textContent = "";
    await loadCookies();
  });
}

function setUpForm() {
  const form = $("#submit-form");
  const url = $("#url");
  const error = $("#url-error");
  const format = $("#format");
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
    url.setAttribute("aria-invalid", text ? "true" : "false");
  };
  const showFields = () => {
    $("#quality-field").hidden = format.value !== "video";
    $("#audio-field").hidden = format.value !== "audio";
  };
  format.addEventListener("change", showFields);
  const setFormat = (id, label) => {
    state.formatId = id;
    $("#format-choice").textContent = label ? t("formatChosen", { format: label }) : "";
    $("#format-choice").hidden = !id;
    $("#clear-format").hidden = !id;
  };
  $("#choose-format").addEventListener("click", () => {
    if (!url.value.trim()) return showError(t("formatsNeedUrl"));
    pickFormat(url.value.trim(), t, setFormat).catch(() => showError(t("networkError")));
  });
  $("#clear-format").addEventListener("click", () => setFormat(null, null));
  restoreAdvanced(localStorage);
  showFields();
  url.addEventListener("input", () => {
    showError("");
    setFormat(null, null);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("#submit");
    button.disabled = true;
    button.textContent = t("submitting");
    const body = {
      url: url.value.trim(),
      format: format.value,
      ...(format.value === "audio" ? { audio_format: $("#audio_format").value } : {}),
      ...(format.value === "video" ? { quality: $("#quality").value } : {}),
      ...(state.formatId ? { format_id: state.formatId } : {}),
      ...advancedFields(),
    };
    try {
      await submit(body);
      rememberAdvanced(localStorage);
      url.value = "";
      setFormat(null, null);
      showError("");
    } catch (err) {
      showError(err instanceof TypeError ? t("networkError") : err.message);
      url.focus();
    } finally {
      button.disabled = false;
      button.textContent = t("submit");
    }
  });
}

$("#lang").addEventListener("click", () => {
  state.lang = state.lang === "ko" ? "en" : "ko";
  localStorage.setItem("lang", state.lang);
  applyLanguage();
});
/** Who is here: the logout button and the tokens panel are for a logged-in admin. */
async function loadSession() {
  const response = await fetch("/api/v1/session").catch(() => null);
  if (!response?.ok) return;
  state.session = await response.json();
  $("#logout").hidden = state.session.kind !== "session";
  $("#tokens").hidden = state.session.auth_mode !== "password" ||
    !state.session.scopes.includes("admin");
  if (!$("#tokens").hidden) await loadTokens();
}

async function loadTokens() {
  const response = await fetch("/api/v1/tokens");
  if (!response.ok) return;
  const tokens = await response.json();
  const when = (iso) =>
    new Date(iso).toLocaleString(state.lang, { dateStyle: "short", timeStyle: "short" });
  $("#token-list").replaceChildren(...tokens.map((token) => {
    const item = document.createElement("li");
    item.dataset.id = token.id;
    const text = document.createElement("span");
    text.textContent = [
      token.name,
      token.scopes.join("+"),
      token.expires_at ? t("tokenExpiresAt", { when: when(token.expires_at) }) : t("tokenNoExpiry"),
      token.last_used_at
        ? t("tokenLastUsed", { when: when(token.last_used_at) })
        : t("tokenNeverUsed"),
    ].join(" · ");
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "secondary";
    revoke.textContent = t("tokenRevoke");
    revoke.addEventListener("click", async () => {
      if (!confirm(t("tokenRevokeConfirm"))) return;
      await fetch(`/api/v1/tokens/${token.id}`, { method: "DELETE" });
      await loadTokens();
    });
    item.append(text, " ", revoke);
    return item;
  }));
}

async function createToken(name, scopes, days) {
  const response = await fetch("/api/v1/tokens", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, scopes, expires_in_days: days }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error?.message ?? response.statusText);
  return body;
}

function setUpAccess() {
  $("#logout").addEventListener("click", async () => {
    await fetch("/auth/logout", { method: "POST" });
    location.href = "/login";
  });
  $("#token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const scopes = [...document.querySelectorAll('#token-form [name="scope"]:checked')].map((c) =>
      c.value
    );
    const days = Number($("#token-days").value) || null;
    const created = await createToken($("#token-name").value.trim(), scopes, days);
    $("#token-value").textContent = created.token;
    $("#token-new").hidden = false;
    $("#token-name").value = "";
    await loadTokens();
  });
  // The session bookmarklet opens this page with the link filled in; the token one queues it
  // straight from the video's page (a cross-site request, allowed only with a bearer token).
  $("#bookmarklet").href = `javascript:location.href=${
    JSON.stringify(`${location.origin}/share?url=`)
  }+encodeURIComponent(location.href)`;
  $("#make-token-bookmarklet").hidden = state.session?.auth_mode !== "password";
  $("#make-token-bookmarklet").addEventListener("click", async () => {
    const { token } = await createToken("bookmarklet", ["read", "download"], null);
    const link = $("#token-bookmarklet");
    link.href = `javascript:fetch(${JSON.stringify(`${location.origin}/api/v1/download`)},` +
      `{method:"POST",headers:{"content-type":"application/json",authorization:"Bearer ${token}"},` +
      `body:JSON.stringify({url:location.href})}).then(r=>alert(r.ok?"ytdl-live: queued":"ytdl-live: "+r.status),` +
      `e=>alert("ytdl-live: "+e.message))`;
    link.hidden = false;
    $("#make-token-bookmarklet").hidden = true;
    $("#token-bookmarklet-note").hidden = false;
    await loadTokens();
  });
  // Shared into the page (PWA share target or bookmarklet): filled in, one press to download.
  const shared = new URLSearchParams(location.search).get("share");
  if (shared) {
    $("#url").value = shared;
    $("#url-error").textContent = t("sharedLink");
    $("#url-error").hidden = false;
    $("#submit").focus();
    history.replaceState(null, "", "/");
  }
}

setUpForm();
setUpPanels();
applyLanguage();
connect();
loadYtdlp();
loadCookies();
loadSession().then(setUpAccess, setUpAccess);
