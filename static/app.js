import { errorText, initialLanguage, translate } from "/static/i18n.js";

const ACTIVE = new Set(["queued", "downloading", "processing", "retrying"]);
const $ = (selector, root = document) => root.querySelector(selector);

const state = {
  lang: initialLanguage(localStorage, navigator.languages ?? [navigator.language]),
  tasks: new Map(),
  announced: new Map(),
  retryDelay: 1000,
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

function rowFor(task) {
  let row = document.getElementById(`task-${task.task_id}`);
  if (row) return row;
  row = $("#task-row").content.firstElementChild.cloneNode(true);
  row.id = `task-${task.task_id}`;
  row.dataset.id = task.task_id;
  $(".cancel", row).addEventListener("click", () => removeTask(task.task_id));
  $(".remove", row).addEventListener("click", () => {
    const current = state.tasks.get(task.task_id);
    if (current?.status === "completed" && !confirm(t("removeConfirm"))) return;
    removeTask(task.task_id);
  });
  $(".retry", row).addEventListener("click", () => retry(task.task_id));
  $("#tasks").prepend(row);
  return row;
}

function render(task) {
  const row = rowFor(task);
  const title = task.title ?? task.url;
  const progress = task.progress;
  const pct = task.status === "completed" ? 100 : progress?.percentage ?? null;
  row.dataset.status = task.status;
  $(".task-title", row).textContent = title;
  $(".task-status", row).textContent = t(`status_${task.status}`, {
    attempt: task.attempt,
    max: task.max_attempts,
  });

  const bar = $("progress", row);
  if (pct === null) {
    if (ACTIVE.has(task.status)) bar.removeAttribute("value");
    else bar.value = 0;
  } else {
    bar.value = pct;
  }
  bar.setAttribute("aria-label", pct === null ? title : `${title} ${pct}%`);

  const active = ACTIVE.has(task.status);
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
  warning.hidden = !task.storage_error;
  warning.textContent = task.storage_error ?? "";

  const save = $(".save", row);
  save.hidden = task.status !== "completed";
  save.textContent = t("save");
  save.href = `/api/v1/download/${task.task_id}/file`;
  save.setAttribute("download", "");
  $(".retry", row).hidden = task.status !== "failed" && task.status !== "cancelled";
  $(".retry", row).textContent = t("retry");
  $(".cancel", row).hidden = !active;
  $(".cancel", row).textContent = t("cancel");
  $(".remove", row).hidden = active;
  $(".remove", row).textContent = t("remove");
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
    document.getElementById(`task-${id}`)?.remove();
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

async function removeTask(id) {
  await fetch(`/api/v1/download/${id}`, { method: "DELETE" });
}

/** Queues the same task again; its row updates in place from the socket. */
async function retry(id) {
  await fetch(`/api/v1/download/${id}/retry`, { method: "POST" });
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
  format.addEventListener("change", () => {
    $("#quality-field").hidden = format.value === "audio";
    $("#audio-field").hidden = format.value !== "audio";
  });
  url.addEventListener("input", () => showError(""));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("#submit");
    button.disabled = true;
    button.textContent = t("submitting");
    const body = format.value === "audio"
      ? { url: url.value.trim(), format: "audio", audio_format: $("#audio_format").value }
      : { url: url.value.trim(), format: "video", quality: $("#quality").value };
    try {
      await submit(body);
      url.value = "";
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
setUpForm();
setUpPanels();
applyLanguage();
connect();
loadYtdlp();
loadCookies();
