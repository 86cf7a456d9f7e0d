// The Organization settings tab of the administration page: file transfer, recording, session
// types and STUN/TURN, saved as a whole (PUT /admin/settings); the service's validation errors
// are shown in words with the field they name marked; and the mail relay the service was
// started with (read only: it is configured with the service's --smtp-* flags).

import { api, sentence } from "./console-api.js";
import { $, h, showError, time } from "./console-dom.js";

// Field names of the service's messages, in words, and the input each one marks.
const FIELDS = [
  [/^file_transfer/, () => "File transfer", () => document.querySelector("input[name=file_transfer]")],
  [/^recording_allowed/, () => "Recording", () => $("recording-allowed")],
  [/^session_types\[(\d+)\]\.name/, (m) => `Session type ${Number(m[1]) + 1}, name`, (m) => document.querySelectorAll("#types .type-name")[Number(m[1])]],
  [/^session_types/, () => "Session types", () => $("add-type")],
  [/^stun_urls\[(\d+)\]/, (m) => `STUN server ${Number(m[1]) + 1}`, () => $("stun-urls")],
  [/^turn_urls\[(\d+)\]/, (m) => `TURN server ${Number(m[1]) + 1}`, () => $("turn-urls")],
  [/^turn_secret/, () => "TURN shared secret", () => $("turn-secret")],
  [/^turn_ttl_secs/, () => "TURN credential lifetime", () => $("turn-ttl")],
];

const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);

export class Settings {
  constructor(ctx) {
    this.ctx = ctx;
    $("settings-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(e.submitter); });
    $("settings-form").addEventListener("input", () => { $("settings-state").textContent = "Unsaved changes"; });
    $("add-type").addEventListener("click", () => { this.addType({ name: "", requires_tracking_code: false }).querySelector("input").focus(); });
    $("turn-secret-show").addEventListener("click", (e) => {
      const shown = $("turn-secret").type === "text";
      $("turn-secret").type = shown ? "password" : "text";
      e.currentTarget.textContent = shown ? "Show" : "Hide";
      e.currentTarget.setAttribute("aria-pressed", String(!shown));
    });
  }

  async load() {
    this.clearMarks();
    showError("settings-error", "");
    $("settings-state").textContent = "";
    try {
      this.fill(await api("GET", "/admin/settings"));
    } catch (e) {
      if (!this.ctx.failed(e)) showError("settings-error", this.ctx.errorText(e));
    }
    this.loadMail();
  }

  fill(s) {
    for (const r of document.querySelectorAll("input[name=file_transfer]")) r.checked = r.value === s.file_transfer;
    $("recording-allowed").checked = !!s.recording_allowed;
    $("types").replaceChildren();
    for (const t of s.session_types) this.addType(t);
    $("stun-urls").value = (s.stun_urls || []).join("\n");
    $("turn-urls").value = (s.turn_urls || []).join("\n");
    $("turn-secret").value = s.turn_secret || "";
    $("turn-ttl").value = String(s.turn_ttl_secs ?? 3600);
  }

  /** One editable session type: its name, whether it needs a tracking code, remove, move up. */
  addType(t) {
    const n = $("types").children.length + 1;
    const li = h("li", { class: "type" },
      h("label", { class: "sr-only", for: `type-name-${n}` }, "Session type name"),
      h("input", { id: `type-name-${n}`, class: "type-name", value: t.name, maxlength: "64", placeholder: "e.g. Printer support" }),
      h("label", { class: "check" }, h("input", { type: "checkbox", class: "type-tracking", checked: !!t.requires_tracking_code }), " needs a tracking code"),
      h("button", { type: "button", class: "small secondary", title: "Move up", "aria-label": "Move up", onclick: () => {
        if (li.previousElementSibling) { li.parentNode.insertBefore(li, li.previousElementSibling); this.changed(); }
      } }, "↑"),
      h("button", { type: "button", class: "small secondary", onclick: () => { li.remove(); this.changed(); } }, "Remove"));
    $("types").append(li);
    return li;
  }

  changed() { $("settings-state").textContent = "Unsaved changes"; }

  read() {
    const checked = document.querySelector("input[name=file_transfer]:checked");
    const ttl = $("turn-ttl").value.trim();
    return {
      file_transfer: checked ? checked.value : "",
      recording_allowed: $("recording-allowed").checked,
      session_types: [...document.querySelectorAll("#types .type")].map((li) => ({
        name: li.querySelector(".type-name").value.trim(),
        requires_tracking_code: li.querySelector(".type-tracking").checked,
      })),
      stun_urls: lines($("stun-urls").value),
      turn_urls: lines($("turn-urls").value),
      turn_secret: $("turn-secret").value,
      turn_ttl_secs: /^\d+$/.test(ttl) ? Number(ttl) : ttl,
    };
  }

  /** What the page checks itself before asking the service (which checks everything again). */
  precheck(s) {
    if (!s.file_transfer) return ["file_transfer", "Choose how much file transfer is allowed."];
    if (typeof s.turn_ttl_secs !== "number") return ["turn_ttl_secs", "The TURN credential lifetime must be a whole number of seconds."];
    return null;
  }

  async save(button) {
    this.clearMarks();
    showError("settings-error", "");
    const s = this.read();
    const local = this.precheck(s);
    if (local) { this.mark(local[0]); showError("settings-error", local[1]); return; }
    if (button) button.disabled = true;
    $("settings-state").textContent = "Saving…";
    try {
      this.fill(await api("PUT", "/admin/settings", s));
      $("settings-state").textContent = `Saved at ${time(Date.now())}. Sessions started from now on use these settings.`;
    } catch (e) {
      $("settings-state").textContent = "Not saved";
      if (!this.ctx.failed(e)) showError("settings-error", this.words(e.message || String(e)));
    } finally {
      if (button) button.disabled = false;
    }
  }

  /** "Turn_urls[0]: expected …" → "TURN server 1: expected …", with that field marked. */
  words(message) {
    const raw = message.charAt(0).toLowerCase() + message.slice(1);
    for (const [re, label, field] of FIELDS) {
      const m = raw.match(re);
      if (!m) continue;
      this.mark(null, field(m));
      const rest = raw.slice(raw.indexOf(":") + 1).trim();
      return sentence(`${label(m)}: ${rest}`);
    }
    return sentence(message);
  }

  mark(name, element) {
    const el = element || (FIELDS.find(([re]) => re.test(name)) || [])[2]?.([]);
    if (!el) return;
    el.setAttribute("aria-invalid", "true");
    el.focus();
  }

  clearMarks() {
    for (const el of document.querySelectorAll("#settings-form [aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  async loadMail() {
    const box = $("mail");
    try {
      const m = await api("GET", "/admin/mail");
      if (!m.configured) {
        box.replaceChildren(
          h("p", {}, h("span", { class: "pill" }, "Off"), " CSRs can copy invitation links and read codes, but not e-mail them."),
          h("p", { class: "muted small" }, "To turn it on, start the service with a mail relay: ",
            h("code", {}, "--smtp-host"), ", ", h("code", {}, "--smtp-from"), " and, if the relay needs a sign-in, ",
            h("code", {}, "--smtp-username"), " and ", h("code", {}, "TETHER_SMTP_PASSWORD"), " (see the README)."));
        return;
      }
      const security = { starttls: "STARTTLS", tls: "TLS", none: "no encryption" }[m.security] || m.security;
      box.replaceChildren(
        h("p", {}, h("span", { class: "pill ok" }, "On"), " CSRs can send invitations by e-mail from the invite panel."),
        h("dl", { class: "facts" },
          h("dt", {}, "Mail relay"), h("dd", { class: "mono" }, `${m.host}:${m.port}`),
          h("dt", {}, "Connection"), h("dd", {}, security),
          h("dt", {}, "Sender"), h("dd", {}, m.from),
          h("dt", {}, "Sign-in"), h("dd", {}, m.username ? `as ${m.username}${m.password_set ? ", password set" : ""}` : "none")),
        h("p", { class: "muted small" }, "These come from the service's --smtp-* settings; change them there and restart it."));
    } catch (e) {
      if (!this.ctx.failed(e)) box.replaceChildren(h("p", { class: "form-error" }, this.ctx.errorText(e)));
    }
  }
}
