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
    // The browser cuts a paste at maxlength without a word: say so.
    area.addEventListener("paste", (event) => {
      const max = Number(area.getAttribute("maxlength"));
      const pasted = (event.clipboardData && event.clipboardData.getData("text")) || "";
      const room = max - (area.value.length - (area.selectionEnd - area.selectionStart));
      let note = area.form.querySelector("[data-paste-note]");
      if (!max || pasted.length <= room) { if (note) note.remove(); return; }
      if (!note) {
        note = el("p", { class: "help warn", role: "status", "data-paste-note": "" });
        area.after(note);
      }
      note.textContent = `The pasted text was cut to ${max.toLocaleString("en")} characters, the longest a message can be.`;
    });
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

// Narrow screens: the workspace navigation opens from the Menu button.
function initMenu() {
  const toggle = document.querySelector("[data-menu-toggle]");
  if (!toggle) return;
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.closest(".sidebar").classList.toggle("open", open);
  });
}

// A table becomes cards on narrow screens; each cell is labelled with its column's heading.
function labelTableCells(root = document) {
  root.querySelectorAll("table.table").forEach((table) => {
    const headings = Array.from(table.querySelectorAll("thead th")).map((th) => th.querySelector(".sr-only") ? "" : th.textContent.trim());
    table.querySelectorAll("tbody tr").forEach((row) => {
      Array.from(row.children).forEach((cell, i) => {
        if (!cell.hasAttribute("data-label") && headings[i]) cell.setAttribute("data-label", headings[i]);
      });
    });
  });
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
    // Media is shown from our own copy (media_store), never from the URL itself.
    const media = el("div", { class: "media" });
    message.media_urls.forEach((url, i) => {
      const src = `/w/${document.body.dataset.ws}/messages/${message.id}/media/${i}`;
      const link = el("a", { href: src, target: "_blank", rel: "noopener" });
      const img = el("img", { src, alt: `Attachment ${i + 1}`, loading: "lazy", "data-media": "" });
      link.append(img);
      media.append(link);
      retryMedia(img);
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

// A new message's media is copied to our store just after it is filed: until then its image
// answers 404, so try again a few times.
function retryMedia(img) {
  let tries = 0;
  const retry = () => {
    if (tries >= 10) return;
    tries += 1;
    setTimeout(() => { img.src = img.src.split("?")[0] + `?try=${tries}`; }, 1500);
  };
  img.addEventListener("error", retry);
  if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) retry();
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
  if (error) {
    error.hidden = !message.error_code;
    error.textContent = message.error_code ? `Error ${message.error_code}${message.error_message ? ": " + message.error_message : ""}` : "";
  }
  if (changed) showOutcome(container, message);
  return changed;
}

// A failed message is red, says what its error code means, and offers Retry; a scheduled one
// offers Cancel. The same as templates/messaging/_bubble.html, for a message that changes live.
const FAILED = new Set(["failed", "undelivered"]);
let errorTable = null;

function explainError(code) {
  if (errorTable === null) {
    const source = document.getElementById("error-explanations");
    errorTable = source ? JSON.parse(source.textContent) : {};
  }
  return code ? errorTable[code] : undefined;
}

function actionForm(message, action, label, className) {
  const ws = document.body.dataset.ws;
  const form = el("form", { method: "post", action: `/w/${ws}/messages/${message.id}/${action}` });
  const token = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (token) form.append(el("input", { type: "hidden", name: "csrfmiddlewaretoken", value: token.value }));
  form.append(el("input", { type: "hidden", name: "next", value: location.pathname }));
  form.append(el("button", { class: `btn small ${className}`, type: "submit", [`data-${action}`]: "" }, label));
  return form;
}

function showOutcome(container, message) {
  FAILED.forEach((status) => container.classList.toggle(status, message.status === status));
  if (!container.classList.contains("bubble")) return;  // a row of the log: its colour only
  let help = container.querySelector("[data-error-help]");
  const meaning = FAILED.has(message.status) ? explainError(message.error_code) : undefined;
  if (meaning) {
    if (!help) {
      help = el("p", { class: "error-help", "data-error-help": "" });
      container.querySelector(".bubble-meta").after(help);
    }
    help.replaceChildren(el("strong", {}, meaning.meaning), ` What to do: ${meaning.action}`);
  } else if (help) {
    help.remove();
  }
  if (message.direction !== "outbound") return;
  let actions = container.querySelector("[data-actions]");
  if (!actions) {
    actions = el("div", { class: "bubble-actions", "data-actions": "" });
    container.append(actions);
  }
  actions.replaceChildren();
  if (FAILED.has(message.status)) actions.append(actionForm(message, "retry", "Retry", ""));
  else if (message.status === "scheduled") actions.append(actionForm(message, "cancel", "Cancel", "danger-outline"));
}

// The thread's contact opted out (STOP) or back in (START): the banner and the composer follow.
async function refreshConsent() {
  const composer = document.querySelector("form.composer[data-consent-url]");
  if (!composer) return;
  try {
    const response = await fetch(composer.dataset.consentUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const consent = await response.json();
    const banner = document.querySelector("[data-opt-out-banner]");
    const fields = composer.querySelector("[data-composer-fields]");
    if (banner) {
      banner.hidden = !consent.opted_out;
      const detail = banner.querySelector("[data-opt-out-detail]");
      if (detail && consent.opted_out) detail.textContent = consent.keyword === "BY HAND" ? "(added by hand)" : `(texted ${consent.keyword})`;
    }
    if (fields) fields.disabled = consent.opted_out;
    if (consent.opted_out) announce("The contact opted out: sending to them is turned off.");
  } catch { /* offline: the next message tries again */ }
}

const DIRECTION_LABELS = { inbound: "Inbound", outbound: "Outbound" };

function contactOf(message) {
  return message.direction === "outbound" ? message.to : message.from;
}

function conversationItem(message) {
  // A conversation the page has not listed yet: the same markup as templates/messaging/inbox.html.
  const ws = document.body.dataset.ws;
  const link = el("a", { class: "conv", href: `/w/${ws}/inbox/${message.conversation_id}/`,
                         "data-conversation-id": message.conversation_id });
  const top = el("span", { class: "conv-top" });
  top.append(el("strong", { class: "mono" }, contactOf(message) || ""));
  const time = el("time", { datetime: message.created_at, "data-local": "short" });
  top.append(time);
  localTime(time);
  const bottom = el("span", { class: "conv-bottom" });
  bottom.append(el("span", { class: "snippet", "data-snippet": "" }));
  bottom.append(el("span", { class: "badge", "data-unread": "", hidden: "" }, "0"));
  link.append(top, bottom);
  const item = el("li");
  item.append(link);
  return item;
}

function logRow(message) {
  // A new row of the messages log: the same cells as templates/messaging/log.html.
  const ws = document.body.dataset.ws;
  const row = el("tr", { "data-message-row": message.id });
  const when = el("td", { class: "nowrap", "data-label": "When" });
  const link = el("a", { href: `/w/${ws}/messages/${message.id}/` });
  const time = el("time", { datetime: message.created_at, "data-local": "datetime" });
  localTime(time);
  link.append(time);
  when.append(link);
  const direction = el("td", { "data-label": "Direction" });
  direction.append(el("span", { class: `dir dir-${message.direction}` }, DIRECTION_LABELS[message.direction] || message.direction));
  const body = (message.body || "📎 Attachment");
  const status = el("td", { class: "nowrap", "data-label": "Status" });
  status.append(el("span", { class: "status", "data-status": "" }));
  status.append(" ");
  status.append(el("span", { class: "error-code", "data-error": "", hidden: "" }));
  row.append(when, direction,
    el("td", { class: "mono nowrap", "data-label": "From" }, message.from || ""),
    el("td", { class: "mono nowrap", "data-label": "To" }, message.to || ""),
    el("td", { class: "body-cell", "data-label": "Message" }, body.length > 90 ? body.slice(0, 89) + "…" : body),
    status);
  return row;
}

function addToLog(message) {
  const rows = document.querySelector("[data-log-live]");
  if (!rows) return;  // a filtered or later page: its rows are chosen by the server
  rows.prepend(logRow(message));
  applyStatus(rows.firstElementChild, message);
  const table = document.querySelector("[data-log-table]");
  if (table) table.hidden = false;
  const empty = document.querySelector("[data-log-empty]");
  if (empty) empty.remove();
  const count = document.querySelector("[data-log-count]");
  if (count) {
    const n = Number(count.dataset.logCount || 0) + 1;
    count.dataset.logCount = String(n);
    count.textContent = `${n} message${n === 1 ? "" : "s"}`;
  }
}

function updateConversationList(message, isNew) {
  const list = document.querySelector("[data-conversations]");
  if (!list || !message.conversation_id) return;
  let conversation = list.querySelector(`.conv[data-conversation-id="${CSS.escape(message.conversation_id)}"]`);
  if (!conversation) {
    if (!isNew) return;
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    list.prepend(conversationItem(message));
    conversation = list.querySelector(`.conv[data-conversation-id="${CSS.escape(message.conversation_id)}"]`);
  }
  const snippet = conversation.querySelector("[data-snippet]");
  if (snippet && new Date(message.created_at) >= new Date(conversation.dataset.lastAt || 0)) {
    conversation.dataset.lastAt = message.created_at;
    snippet.textContent = (message.direction === "outbound" ? "You: " : "") + (message.body || "📎 Attachment");
    const time = conversation.querySelector("time");
    if (time) { time.setAttribute("datetime", message.created_at); localTime(time); }
    const item = conversation.parentElement;
    item.parentElement.prepend(item);
  }
  // A new inbound message of a conversation that is not open is unread (the server counts the same).
  const open = conversation.getAttribute("aria-current") === "page";
  if (isNew && message.direction === "inbound" && !open) {
    const badge = conversation.querySelector("[data-unread]");
    const n = Number(badge.textContent || 0) + 1;
    badge.textContent = String(n);
    badge.setAttribute("aria-label", `${n} unread`);
    badge.hidden = false;
    conversation.classList.add("unread");
  }
}

// Messages this page has shown or been told about: a message is new to the page when it was
// created after the page was rendered and has not been seen yet.
const seenMessages = new Set();

function applyMessage(message) {
  const pageTime = new Date(document.body.dataset.since || 0);
  const known = seenMessages.has(message.id) ||
    document.querySelector(`[data-message-id="${CSS.escape(message.id)}"], [data-message-row="${CSS.escape(message.id)}"]`);
  const isNew = !known && new Date(message.created_at) > pageTime;
  seenMessages.add(message.id);
  const thread = document.querySelector("[data-thread]");
  if (thread && message.conversation_id === thread.dataset.conversationId) {
    let bubble = thread.querySelector(`[data-message-id="${CSS.escape(message.id)}"]`);
    if (!bubble) {
      bubble = bubbleFor(message);
      thread.append(bubble);
      thread.scrollTop = thread.scrollHeight;
      if (message.direction === "inbound") {
        announce(`New message from ${message.from}: ${message.body}`);
        refreshConsent();
      }
    }
    if (applyStatus(bubble, message) && message.direction === "outbound") {
      announce(`Message to ${message.to}: ${STATUS_LABELS[message.status] || message.status}`);
    }
  }
  if (isNew) addToLog(message);
  document.querySelectorAll(`[data-message-row="${CSS.escape(message.id)}"]`).forEach((row) => applyStatus(row, message));
  updateConversationList(message, isNew);
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
  document.querySelectorAll("img[data-media]").forEach(retryMedia);
  initSegmentCounters();
  initCopyButtons();
  initCarrierForm();
  initMenu();
  labelTableCells();
  initLive();
});
