// The login page and the one-time setup page: post the password, then go where the user was going.
import { initialLanguage, translate } from "/static/i18n.js";

const lang = initialLanguage(localStorage, navigator.languages ?? [navigator.language]);
const t = (key) => translate(lang, key);
document.documentElement.lang = lang;
for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
document.title = document.querySelector("h1").textContent;

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const params = new URLSearchParams(location.search);
// Only paths of this site: a link must not be able to send a fresh login elsewhere.
const next = /^\/[^/\\]/.test(params.get("next") ?? "") ? params.get("next") : "/";

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = document.getElementById("password").value;
  const setup = form.dataset.mode === "setup";
  const response = await fetch(setup ? "/auth/setup" : "/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(setup ? { token: params.get("token") ?? "", password } : { password }),
  }).catch(() => null);
  if (response?.ok) {
    location.href = next;
    return;
  }
  const body = await response?.json().catch(() => ({}));
  error.textContent = response === null
    ? t("networkError")
    : response.status === 401
    ? t("wrongPassword")
    : body?.error?.message ?? response.statusText;
  error.hidden = false;
});
