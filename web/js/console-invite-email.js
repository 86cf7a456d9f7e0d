// The console's invitation by e-mail (the invite panel's address field): shown only when the
// service has a mail relay (`mail_configured` of GET /session-types, asked when the panel first
// opens), checks the address, and asks the console's `invite(role, email)` to create the
// invitation and have the service send its link; the service's refusals show in the panel.

import { api } from "./console-api.js";
import { $, showError } from "./console-dom.js";

// One mailbox, name@domain.tld, nothing else (the service checks it again).
const ADDRESS = /^[^\s@<>(),;:"\\[\]]+@[^\s@<>(),;:"\\[\]]+\.[^\s@<>(),;:"\\[\]]+$/;

export class InviteEmail {
  /** `invite(role, email)` resolves to true once the invitation was created and sent. */
  constructor({ invite }) {
    this.invite = invite;
    this.known = false;
    $("invite-btn").addEventListener("click", () => this.refresh());
    $("invite-email-form").addEventListener("submit", (e) => { e.preventDefault(); this.send(e.submitter); });
  }

  /** Ask the service once whether it can send mail; show the field if so. */
  async refresh() {
    if (this.known) return;
    try {
      const r = await api("GET", "/session-types");
      this.known = true;
      $("invite-email-form").hidden = !r.mail_configured;
    } catch { /* the form stays hidden; the console handles sign-in problems */ }
  }

  async send(button) {
    showError("invite-error", "");
    const email = $("invite-email").value.trim();
    if (!ADDRESS.test(email) || email.length > 254) {
      showError("invite-error", email ? `“${email}” is not an e-mail address; enter one like name@example.com.` : "Enter the e-mail address to send the invitation to.");
      $("invite-email").focus();
      return;
    }
    const role = $("invite-email-role").value;
    if (button) { button.disabled = true; button.textContent = "Sending…"; }
    try {
      if (await this.invite(role, email)) $("invite-email").value = "";
      else $("invite-email").focus();
    } finally {
      if (button) { button.disabled = false; button.textContent = "Send invitation"; }
    }
  }
}
