// Campaign pages: a template's live preview, an import's progress, a broadcast's live counts.
"use strict";

function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

async function apiJson(url, options = {}) {
  const response = await fetch(url, {
    credentials: "same-origin",
    ...options,
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken(),
               ...(options.headers || {}) },
  });
  return { ok: response.ok, body: await response.json().catch(() => ({})) };
}

// The sample values a preview renders with: what most templates use.
const SAMPLE = { name: "Ana", city: "Paris", phone_number: "+14155552671" };

function initTemplatePreview(form) {
  const body = form.querySelector("[data-template-body]");
  const template = form.querySelector("select[name=template]");
  const text = form.querySelector("[data-preview-text]");
  const facts = form.querySelector("[data-preview-facts]");
  const error = form.querySelector("[data-preview-error]");
  if (!body || !text) return;
  let timer = null;
  async function render() {
    const payload = template && template.value ? { template_id: template.value } : { body: body.value };
    if (!payload.template_id && !body.value.trim()) { text.textContent = "—"; facts.textContent = ""; return; }
    const { ok, body: answer } = await apiJson(form.dataset.templateForm, {
      method: "POST", body: JSON.stringify({ ...payload, variables: SAMPLE }),
    });
    const rendering = ok ? answer.renderings[0] : null;
    error.hidden = Boolean(rendering && !rendering.error);
    if (!ok) { error.textContent = answer.detail || "This message cannot be previewed."; return; }
    if (rendering.error) { error.textContent = rendering.error; return; }
    text.textContent = rendering.text;
    const costly = rendering.costly_characters.map((c) => `“${c.character}”` + (c.replacement !== null ? ` → “${c.replacement}”` : "")).join(", ");
    facts.textContent = `${rendering.characters} characters · ${rendering.num_segments} segment${rendering.num_segments === 1 ? "" : "s"} · ${rendering.encoding}` +
      (costly ? ` · costs extra: ${costly}` : "") +
      (rendering.smart_encoded_segments ? ` (with the replacements: ${rendering.smart_encoded_segments} segment${rendering.smart_encoded_segments === 1 ? "" : "s"}, GSM-7)` : "");
  }
  const soon = () => { clearTimeout(timer); timer = setTimeout(render, 250); };
  body.addEventListener("input", soon);
  if (template) template.addEventListener("change", soon);
  render();
}

function initImportProgress(section) {
  const progress = section.querySelector("[data-import-progress]");
  const status = section.querySelector("[data-import-status]");
  const counts = section.querySelector("[data-import-counts]");
  const failure = section.querySelector("[data-import-failure]");
  const errors = section.querySelector("[data-import-errors]");
  async function tick() {
    const { ok, body: job } = await apiJson(section.dataset.import);
    if (ok) {
      progress.max = Math.max(1, job.total_rows);
      progress.value = job.status === "running" ? job.processed_rows : progress.max;
      status.textContent = job.status[0].toUpperCase() + job.status.slice(1);
      status.className = `pill ${job.status === "completed" ? "pill-ok" : job.status === "failed" ? "pill-warn" : "pill-muted"}`;
      counts.textContent = `${job.processed_rows} of ${job.total_rows} rows · ${job.created} added · ${job.updated} updated · ${job.errors_count} refused`;
      if (job.failure) { failure.hidden = false; failure.textContent = job.failure; }
      if (job.errors.length) {
        errors.replaceChildren(...job.errors.map((e) => {
          const row = document.createElement("tr");
          for (const value of [e.row, e.phone_number || "—", e.error]) {
            const cell = document.createElement("td");
            cell.textContent = value;
            row.append(cell);
          }
          return row;
        }));
      }
      if (job.status !== "running") return;
    }
    setTimeout(tick, 1000);
  }
  tick();
}

function initBroadcastLive(section) {
  const id = section.dataset.broadcast;
  const workspaceId = document.body.dataset.ws;
  const progress = section.querySelector("[data-broadcast-progress]");
  const status = section.querySelector("[data-broadcast-status]");
  const FINAL = ["completed", "canceled"];
  function show(broadcast) {
    const c = broadcast.counts;
    for (const [key, value] of Object.entries(c)) {
      const cell = section.querySelector(`[data-count="${key}"]`);
      if (cell) cell.textContent = value;
    }
    progress.max = Math.max(1, c.total);
    // Handed to the carrier or at an end, against every recipient.
    progress.value = c.sent + c.delivered + c.failed + c.undelivered + c.canceled + c.skipped_opted_out + c.skipped_invalid;
    status.textContent = broadcast.status[0].toUpperCase() + broadcast.status.slice(1);
    status.className = `status status-${broadcast.status}`;
    if (FINAL.includes(broadcast.status)) {
      const cancel = section.querySelector("[data-broadcast-cancel]");
      if (cancel) cancel.remove();
    }
  }
  async function poll() {
    const { ok, body } = await apiJson(section.dataset.broadcastUrl);
    if (ok) show(body);
    if (!ok || !FINAL.includes(body.status)) setTimeout(poll, 5000);
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/workspaces/${workspaceId}/`);
  socket.addEventListener("message", (event) => {
    try {
      const frame = JSON.parse(event.data);
      if (frame.type === "broadcast.updated" && frame.data && frame.data.id === id) show(frame.data);
    } catch { /* not a frame for us */ }
  });
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-template-form]").forEach(initTemplatePreview);
  document.querySelectorAll("[data-import]").forEach(initImportProgress);
  document.querySelectorAll("[data-broadcast]").forEach(initBroadcastLive);
});
