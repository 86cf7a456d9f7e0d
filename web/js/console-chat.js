// The console's chat: the log (lines and notices), the recipient picker, and sending a line to
// everyone or to chosen participants over the peers' control channels, checked by the protocol
// module (text limits, who may receive). Each participant receives only what is addressed to
// it; the transcript goes to the record at the end.

import { sentence } from "./console-api.js";
import { $, h, showError, time } from "./console-dom.js";

/**
 * `session()` is the live session (or null), `protocol()` the protocol module, `nameOf(id)` a
 * participant's name. Binds the chat form once.
 */
export function chatPanel({ session, protocol, nameOf }) {
  function line(from, to, text, at, failed) {
    const mine = from === session().you;
    const toText = to.length ? `to ${to.map(nameOf).join(", ")}` : "to everyone";
    const li = h("li", { class: `msg ${mine ? "mine" : ""}` },
      h("div", { class: "meta" }, h("strong", {}, mine ? "You" : nameOf(from)), ` ${toText} · ${time(at)}`, to.length ? h("span", { class: "private" }, " private") : null),
      h("div", { class: "text" }, text),
      failed ? h("div", { class: "form-error small" }, failed) : null);
    const log = $("chat-log");
    log.append(li);
    log.scrollTop = log.scrollHeight;
  }

  function notice(text) {
    const log = $("chat-log");
    log.append(h("li", { class: "notice" }, `${time(Date.now())} · ${text}`));
    log.scrollTop = log.scrollHeight;
  }

  function renderRecipients() {
    const s = session();
    const box = $("chat-recipients");
    const checked = new Set([...box.querySelectorAll("input:checked")].map((i) => Number(i.value)));
    const others = s.roster.participants.filter((p) => p.id !== s.you);
    box.replaceChildren(...(others.length ? others.map((p) => h("label", { class: "inline chip" },
      h("input", { type: "checkbox", value: p.id, checked: checked.has(p.id), onchange: () => { document.querySelector("input[name=chat-to][value=some]").checked = true; } }),
      ` ${p.name}`)) : [h("span", { class: "muted small" }, "nobody else yet")]));
  }

  $("chat-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("chat-form").requestSubmit(); }
  });
  $("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    showError("chat-error", "");
    const s = session();
    if (!s || !s.roster) return;
    const checked = protocol().checkChatText($("chat-text").value);
    if (checked.error) { showError("chat-error", $("chat-text").value.trim() ? sentence(checked.error) : "Type a message first."); return; }
    const some = document.querySelector("input[name=chat-to]:checked").value === "some";
    const to = some ? [...$("chat-recipients").querySelectorAll("input:checked")].map((i) => Number(i.value)) : [];
    if (some && !to.length) { showError("chat-error", "Choose at least one recipient, or send to everyone."); return; }
    const present = s.roster.participants.map((p) => p.id);
    const r = protocol().chatRecipients(present, s.you, to);
    if (r.error) { showError("chat-error", sentence(r.error)); return; }
    if (!r.ok.length) { showError("chat-error", "Nobody else is in the session yet."); return; }
    const msg = { type: "chat", id: ++s.chatSeq, text: checked.ok, to, sent_at: Date.now() };
    const failed = [];
    for (const id of r.ok) {
      const err = s.mesh ? s.mesh.send(id, msg) : "no direct connection yet";
      if (err) failed.push(nameOf(id));
    }
    const delivered = failed.length < r.ok.length;
    if (delivered) s.transcript.push({ from: s.you, to, text: msg.text, sent_at: msg.sent_at });
    line(s.you, to, msg.text, msg.sent_at, failed.length ? `Not delivered to ${failed.join(", ")} (no direct connection yet).` : null);
    $("chat-text").value = "";
  });

  return { line, notice, renderRecipients };
}
