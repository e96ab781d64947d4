// The live parts of the UI, in plain JavaScript: segment counter, copy buttons, local times, the
// Twilio fields of the carrier form, and live message updates over the workspace's WebSocket.
"use strict";

// Segments: the same rules as messaging/segments.py. ------------------------------------------
const GSM7_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà");
const GSM7_EXTENSION = new Set("^{}\\[~]|€\f");

function countSegments(body) {
  const chars = Array.from(body); // code points, like Python's str
  const gsm = chars.every((ch) => GSM7_BASIC.has(ch) || GSM7_EXTENSION.has(ch));
  const [single, multi] = gsm ? [160, 153] : [70, 67];
  const lengths = chars.map((ch) => gsm ? (GSM7_EXTENSION.has(ch) ? 2 : 1) : (ch.codePointAt(0) > 0xFFFF ? 2 : 1));
  const units = lengths.reduce((a, b) => a + b, 0);
  const encoding = gsm ? "GSM-7" : "UCS-2";
  if (units <= single) return { encoding, segments: chars.length ? 1 : 0, characters: chars.length, units, perSegment: single };
  let segments = 1, used = 0;
  for (const length of lengths) {
    if (used + length > multi) { segments += 1; used = 0; }
    used += length;
  }
  return { encoding, segments, characters: chars.length, units, perSegment: multi };
}

function initSegmentCounters() {
  document.querySelectorAll("textarea[data-segments]").forEach((area) => {
    const output = area.form && area.form.querySelector("[data-segment-output]");
    if (!output) return;
    let last = "";
    const update = () => {
      const info = countSegments(area.value);
      const text = `${info.characters} character${info.characters === 1 ? "" : "s"} · ` +
        `${info.segments} segment${info.segments === 1 ? "" : "s"} · ${info.encoding}`;
      if (text !== last) { output.textContent = text; last = text; }
      output.classList.toggle("multi", info.segments > 1);
      output.dataset.segments = String(info.segments);
      output.dataset.encoding = info.encoding;
    };
    area.addEventListener("input", update);
    update();
    // Enter sends from a thread; Shift+Enter makes a new line.
    if (area.form.querySelector("input[name=conversation]")) {
      area.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          if (area.value.trim()) area.form.requestSubmit();
        }
      });
    }
  });
}

// Small helpers -------------------------------------------------------------------------------
function initCopyButtons() {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      const label = button.querySelector("span") || button;
      try {
        await navigator.clipboard.writeText(source.value);
      } catch {
        source.select();
        document.execCommand("copy");
      }
      label.textContent = "Copied";
      announce("Copied to the clipboard");
      setTimeout(() => { label.textContent = "Copy"; }, 2000);
    });
  });
}

const TIME_FORMATS = {
  time: { hour: "2-digit", minute: "2-digit" },
  short: { month: "short", day: "numeric" },
  datetime: { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" },
  full: { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" },
};

function localTime(el) {
  const moment = new Date(el.getAttribute("datetime"));
  if (isNaN(moment)) return;
  let format = TIME_FORMATS[el.dataset.local] || TIME_FORMATS.datetime;
  if (el.dataset.local === "short" && moment.toDateString() === new Date().toDateString()) format = TIME_FORMATS.time;
  el.textContent = moment.toLocaleString(undefined, format);
  el.title = moment.toLocaleString();
}

function announce(text) {
  const region = document.getElementById("live-announcer");
  if (region) region.textContent = text;
}

function initCarrierForm() {
  const form = document.querySelector("[data-carrier-form]");
  if (!form) return;
  const fields = form.querySelector("[data-twilio-fields]");
  const sync = () => {
    const checked = form.querySelector("input[name=provider]:checked");
    fields.hidden = !checked || checked.value !== "twilio";
    // Each carrier's own fields (data-fields-for="telnyx"), shown only for that carrier.
    form.querySelectorAll("[data-fields-for]").forEach((block) => {
      block.hidden = !checked || checked.value !== block.dataset.fieldsFor;
    });
  };
  form.querySelectorAll("input[name=provider]").forEach((radio) => radio.addEventListener("change", sync));
  sync();
}

// Live updates ------------------------------------------------------------------------------
const STATUS_LABELS = {
  scheduled: "Scheduled", queued: "Queued", sending: "Sending", sent: "Sent", delivered: "Delivered",
  undelivered: "Undelivered", failed: "Failed", canceled: "Canceled", received: "Received",
};

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function bubbleFor(message) {
  const li = el("li", { class: `bubble ${message.direction}`, "data-message-id": message.id });
  if (message.body) {
    const body = el("div", { class: "bubble-body" });
    message.body.split("\n").forEach((line, i) => { if (i) body.append(el("br")); body.append(line); });
    li.append(body);
  }
  if (message.media_urls && message.media_urls.length) {
    const media = el("div", { class: "media" });
    message.media_urls.forEach((url, i) => {
      if (!/^https?:\/\//i.test(url)) return;
      const link = el("a", { href: url, target: "_blank", rel: "noopener noreferrer" });
      link.append(el("img", { src: url, alt: `Attachment ${i + 1}`, loading: "lazy" }));
      media.append(link);
    });
    li.append(media);
  }
  const meta = el("div", { class: "bubble-meta" });
  const time = el("time", { datetime: message.created_at, "data-local": "time" });
  meta.append(time);
  if (message.direction === "outbound") meta.append(el("span", { class: "status", "data-status": "" }));
  meta.append(el("span", { class: "error-code", "data-error": "", hidden: "" }));
  li.append(meta);
  localTime(time);
  return li;
}

function applyStatus(container, message) {
  // Frames can arrive out of order (a catch-up after a live frame): never go back in time.
  if (container.dataset.updatedAt && new Date(container.dataset.updatedAt) > new Date(message.updated_at)) return false;
  container.dataset.updatedAt = message.updated_at;
  const status = container.querySelector("[data-status]");
  let changed = false;
  if (status && status.dataset.status !== message.status) {
    status.dataset.status = message.status;
    status.className = `status status-${message.status}`;
    status.textContent = STATUS_LABELS[message.status] || message.status;
    changed = true;
  }
  const error = container.querySelector("[data-error]");
  if (error && message.error_code) {
    error.hidden = false;
    error.textContent = `Error ${message.error_code}${message.error_message ? ": " + message.error_message : ""}`;
  }
  return changed;
}

function applyMessage(message) {
  const thread = document.querySelector("[data-thread]");
  if (thread && message.conversation_id === thread.dataset.conversationId) {
    let bubble = thread.querySelector(`[data-message-id="${CSS.escape(message.id)}"]`);
    if (!bubble) {
      bubble = bubbleFor(message);
      thread.append(bubble);
      thread.scrollTop = thread.scrollHeight;
      if (message.direction === "inbound") announce(`New message from ${message.from}: ${message.body}`);
    }
    if (applyStatus(bubble, message) && message.direction === "outbound") {
      announce(`Message to ${message.to}: ${STATUS_LABELS[message.status] || message.status}`);
    }
  }
  document.querySelectorAll(`[data-message-row="${CSS.escape(message.id)}"]`).forEach((row) => applyStatus(row, message));
  const conversation = document.querySelector(`[data-conversation-id="${CSS.escape(message.conversation_id || "")}"].conv`);
  if (conversation) {
    const snippet = conversation.querySelector("[data-snippet]");
    if (snippet && new Date(message.created_at) >= new Date(conversation.dataset.lastAt || 0)) {
      conversation.dataset.lastAt = message.created_at;
      snippet.textContent = (message.direction === "outbound" ? "You: " : "") + (message.body || "📎 Attachment");
      const item = conversation.parentElement;
      item.parentElement.prepend(item);
    }
  }
}

function initLive() {
  const workspaceId = document.body.dataset.ws;
  const since0 = document.body.dataset.since;
  if (!workspaceId || !since0) return;
  const thread = document.querySelector("[data-thread]");
  if (thread) thread.scrollTop = thread.scrollHeight;
  let since = since0;       // the newest updated_at seen: where a catch-up starts
  let failures = 0;
  let pollTimer = null;
  let socket = null;

  const seen = (message) => {
    if (message && message.updated_at && new Date(message.updated_at) > new Date(since)) since = message.updated_at;
  };
  const handle = (message) => { applyMessage(message); seen(message); };

  // While the socket is down, ask the UI API (same cookie session) what changed.
  async function poll() {
    pollTimer = null;
    if (socket && socket.readyState === WebSocket.OPEN) return;
    const query = new URLSearchParams({ updated_since: since, limit: "100" });
    if (thread) query.set("conversation", thread.dataset.conversationId);
    try {
      const response = await fetch(`/api/ui/workspaces/${workspaceId}/messages?${query}`,
        { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) (await response.json()).data.reverse().forEach(handle);
    } catch { /* offline: try again later */ }
    if (!socket || socket.readyState !== WebSocket.OPEN) pollTimer = setTimeout(poll, 2000);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/workspaces/${workspaceId}/`);
    socket.addEventListener("open", () => {
      failures = 0;
      document.body.dataset.live = "socket";
      if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
      socket.send(JSON.stringify({ type: "catch_up", since }));
    });
    socket.addEventListener("message", (event) => {
      try {
        const frame = JSON.parse(event.data);
        if (frame && frame.data && frame.data.id) handle(frame.data);
      } catch { /* not a frame for us */ }
    });
    socket.addEventListener("close", () => {
      failures += 1;
      document.body.dataset.live = "polling";
      if (!pollTimer) poll();
      const delay = Math.min(30000, 1000 * 2 ** Math.min(failures, 5)) * (0.75 + Math.random() / 2);
      setTimeout(connect, delay);
    });
  }
  connect();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("time[data-local]").forEach(localTime);
  initSegmentCounters();
  initCopyButtons();
  initCarrierForm();
  initLive();
});
