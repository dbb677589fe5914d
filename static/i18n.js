// One message table per language; every text on the page comes from here.
export const MESSAGES = {
  en: {
    title: "Video downloader",
    urlLabel: "Video link",
    urlPlaceholder: "https://…",
    formatLabel: "Type",
    video: "Video",
    audio: "Audio only",
    qualityLabel: "Max quality",
    best: "Best",
    audioFormatLabel: "Audio format",
    submit: "Download",
    submitting: "Adding…",
    empty: "No downloads yet. Paste a link above.",
    status_queued: "Queued",
    status_downloading: "Downloading",
    status_processing: "Processing",
    status_completed: "Completed",
    status_failed: "Failed",
    status_cancelled: "Cancelled",
    cancel: "Cancel",
    remove: "Remove",
    retry: "Retry",
    save: "Save file",
    eta: "left",
    connecting: "Connecting…",
    offline: "Connection lost. Reconnecting in {s} s…",
    language: "한국어",
    languageLabel: "Switch to Korean",
    downloads: "Downloads",
    announceStatus: "{title}: {status}",
    announceProgress: "{title}: {pct}%",
    networkError: "Could not reach the server.",
    moreTasks: "Showing the latest {shown} of {total} downloads.",
    error_url_not_allowed:
      "This address is inside a private network, which the server does not fetch from. To allow a network of yours, list it in ALLOWED_PRIVATE_NETWORKS.",
    error_host_not_found: "No such site: the name does not resolve.",
    error_unreachable: "The site could not be reached.",
  },
  ko: {
    title: "동영상 다운로더",
    urlLabel: "동영상 링크",
    urlPlaceholder: "https://…",
    formatLabel: "종류",
    video: "동영상",
    audio: "오디오만",
    qualityLabel: "최대 화질",
    best: "최고",
    audioFormatLabel: "오디오 형식",
    submit: "다운로드",
    submitting: "추가 중…",
    empty: "아직 다운로드가 없습니다. 위에 링크를 붙여 넣으세요.",
    status_queued: "대기 중",
    status_downloading: "다운로드 중",
    status_processing: "처리 중",
    status_completed: "완료",
    status_failed: "실패",
    status_cancelled: "취소됨",
    cancel: "취소",
    remove: "삭제",
    retry: "다시 시도",
    save: "파일 저장",
    eta: "남음",
    connecting: "연결 중…",
    offline: "연결이 끊겼습니다. {s}초 후 다시 연결합니다…",
    language: "English",
    languageLabel: "영어로 전환",
    downloads: "다운로드 목록",
    announceStatus: "{title}: {status}",
    announceProgress: "{title}: {pct}%",
    networkError: "서버에 연결할 수 없습니다.",
    moreTasks: "전체 {total}개 중 최근 {shown}개를 표시합니다.",
    error_url_not_allowed:
      "사설 네트워크 안의 주소라서 서버가 가져오지 않습니다. 허용하려면 그 네트워크를 ALLOWED_PRIVATE_NETWORKS에 추가하세요.",
    error_host_not_found: "존재하지 않는 사이트입니다: 이름을 찾을 수 없습니다.",
    error_unreachable: "사이트에 연결할 수 없습니다.",
  },
};

/** The language to start in: a saved choice, else the browser's preference, else English. */
export function initialLanguage(storage, languages) {
  const saved = storage.getItem("lang");
  if (saved && saved in MESSAGES) return saved;
  return languages.some((l) => l.toLowerCase().startsWith("ko")) ? "ko" : "en";
}

/**
 * A failure in the reader's language: the translated sentence for its code when there is one,
 * followed by the server's own words.
 */
export function errorText(lang, code, message) {
  const key = `error_${code}`;
  const sentence = MESSAGES[lang]?.[key] ?? MESSAGES.en[key];
  return sentence ? `${sentence} (${message})` : message;
}

/** Looks a key up and fills `{name}` placeholders. */
export function translate(lang, key, params = {}) {
  const text = MESSAGES[lang]?.[key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}
