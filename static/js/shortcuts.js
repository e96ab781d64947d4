// Keyboard shortcuts of the inbox: j / k the next / previous conversation, c the composer,
// Ctrl+Enter (⌘+Enter on a Mac) sends, ? lists them. Letters never fire while typing in a field
// or with Ctrl, ⌘ or Alt held; the send chord is the one shortcut that works from a field.
"use strict";

(function () {
  const inbox = document.querySelector(".inbox");
  if (!inbox) return;

  const SHORTCUTS = [
    [["j"], "Next conversation"],
    [["k"], "Previous conversation"],
    [["c"], "Write a message (focus the composer)"],
    [["Ctrl", "Enter"], "Send the message (⌘ Enter on a Mac); works while typing"],
    [["?"], "Show these shortcuts"],
    [["Esc"], "Close this list"],
  ];

  function typingIn(target) {
    if (!(target instanceof Element)) return false;
    return target.isContentEditable || target.matches("input, textarea, select");
  }

  function conversations() {
    return Array.from(inbox.querySelectorAll(".conv-list a.conv[href]"));
  }

  function go(step) {
    const links = conversations();
    if (!links.length) return false;
    const current = links.findIndex((link) => link.getAttribute("aria-current") === "page");
    const next = current === -1 ? 0 : current + step;
    if (next < 0 || next >= links.length) return false;
    window.location.assign(links[next].href);
    return true;
  }

  function composerBody() {
    return inbox.querySelector("form.composer textarea[name=body]");
  }

  function focusComposer() {
    const body = composerBody();
    if (!body) return false;
    body.focus();
    return true;
  }

  function send(target) {
    const inField = typingIn(target);
    const form = inField ? target.closest("form.composer") : composerBody() && composerBody().form;
    if (!form) return false; // typing in another form's field: not ours to send
    const body = form.querySelector("textarea[name=body]");
    if (!body || !body.value.trim()) { if (body) body.focus(); return true; }
    form.requestSubmit();
    return true;
  }

  let dialog = null;
  function showHelp() {
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.className = "shortcuts-dialog";
      dialog.setAttribute("aria-labelledby", "shortcuts-title");
      const title = document.createElement("h2");
      title.id = "shortcuts-title";
      title.textContent = "Keyboard shortcuts";
      const table = document.createElement("table");
      const caption = document.createElement("caption");
      caption.className = "sr-only";
      caption.textContent = "Inbox keyboard shortcuts";
      table.append(caption);
      const tbody = document.createElement("tbody");
      for (const [keys, what] of SHORTCUTS) {
        const row = document.createElement("tr");
        const th = document.createElement("th");
        th.scope = "row";
        keys.forEach((key, i) => {
          if (i) th.append(" + ");
          const kbd = document.createElement("kbd");
          kbd.textContent = key;
          th.append(kbd);
        });
        const td = document.createElement("td");
        td.textContent = what;
        row.append(th, td);
        tbody.append(row);
      }
      table.append(tbody);
      const note = document.createElement("p");
      note.className = "muted small";
      note.textContent = "Letters do nothing while you type in a field.";
      const close = document.createElement("button");
      close.type = "button";
      close.className = "btn";
      close.textContent = "Close";
      close.addEventListener("click", () => dialog.close());
      dialog.append(title, table, note, close);
      document.body.append(dialog);
    }
    if (!dialog.open) dialog.showModal();
    return true;
  }

  // A visible way to the list, for those who do not know the ? key.
  const head = inbox.querySelector(".conversations-head");
  if (head) {
    const hint = document.createElement("button");
    hint.type = "button";
    hint.className = "btn-link shortcuts-hint";
    hint.setAttribute("aria-keyshortcuts", "?");
    hint.dataset.shortcutsHelp = "";
    hint.textContent = "Shortcuts (?)";
    hint.addEventListener("click", showHelp);
    head.querySelector("h1").after(hint);
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing) return;
    if (dialog && dialog.open) return; // the dialog handles Esc itself
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.altKey) {
      if (send(event.target)) event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) return;
    const handled = {
      j: () => go(1),
      k: () => go(-1),
      c: () => focusComposer(),
      "?": () => showHelp(),
    }[event.key];
    if (handled && handled()) event.preventDefault();
  });
})();
