// The WebSocket test client of the seed: connect, log every message, show the state.
const form = document.getElementById("connect");
const input = document.getElementById("task");
const state = document.getElementById("state");
const log = document.getElementById("log");
let socket = null;

const setState = (value) => {
  state.textContent = value;
  state.dataset.state = value;
  console.log("state:", value);
};

const connect = (taskId) => {
  socket?.close();
  const path = taskId ? `/ws/download/${encodeURIComponent(taskId)}` : "/ws/downloads";
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
  setState("connecting");
  const ws = new WebSocket(url);
  socket = ws;
  ws.onopen = () => setState("connected");
  ws.onclose = (event) => {
    if (socket === ws) setState("closed");
    console.log("closed:", event.code, event.reason);
  };
  ws.onmessage = (event) => {
    const data = JSON.parse(event.data);
    console.log("message:", data);
    const item = document.createElement("li");
    item.textContent = JSON.stringify(data);
    log.append(item);
  };
};

form.addEventListener("submit", (event) => {
  event.preventDefault();
  connect(input.value.trim());
});
document.getElementById("ping").addEventListener("click", () => {
  socket?.send(JSON.stringify({ type: "ping" }));
});

const initial = new URLSearchParams(location.search).get("task_id");
if (initial) {
  input.value = initial;
  connect(initial);
}
