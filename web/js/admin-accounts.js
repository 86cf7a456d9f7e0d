// The Accounts tab of the administration page: the list of CSR accounts with their actions
// (rename, make or remove admin, disable or enable, reset the password), and a new account with
// a one-time password made here, shown once, that the person must replace at first sign-in.
// Every refusal (last admin, own account, taken username...) is the service's own sentence.

import { api } from "./console-api.js";
import { $, h, showError, dateTime } from "./console-dom.js";

// No look-alike characters (0/O, 1/l/I), so it can be read out or typed from a note.
const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/** A random one-time password of `n` characters (rejection sampling: no bias). */
export function oneTimePassword(n = 16) {
  const out = [];
  const limit = 256 - (256 % ALPHABET.length);
  while (out.length < n) {
    for (const b of crypto.getRandomValues(new Uint8Array(n * 2))) {
      if (b < limit && out.length < n) out.push(ALPHABET[b % ALPHABET.length]);
    }
  }
  return out.join("");
}

export class Accounts {
  constructor(ctx) {
    this.ctx = ctx;
    this.list = [];
    $("accounts-refresh").addEventListener("click", () => this.load());
    $("new-account").addEventListener("submit", (e) => { e.preventDefault(); this.create(e.submitter); });
    $("once-copy").addEventListener("click", () => this.copyOnce());
    $("once-done").addEventListener("click", () => this.hideOnce());
    $("account-dialog-cancel").addEventListener("click", () => $("account-dialog").close());
    $("account-dialog-form").addEventListener("submit", (e) => { e.preventDefault(); if (this.confirm) this.confirm(); });
  }

  async load() {
    showError("accounts-error", "");
    try {
      this.list = await api("GET", "/admin/csrs");
      this.render();
    } catch (e) {
      if (!this.ctx.failed(e)) showError("accounts-error", this.ctx.errorText(e));
    }
  }

  render() {
    const me = this.ctx.me();
    const rows = this.list.map((a) => {
      const self = me && a.id === me.id;
      const state = a.disabled ? h("span", { class: "pill" }, "Disabled")
        : a.must_change_password ? h("span", { class: "pill warn" }, "Password to choose")
          : h("span", { class: "pill ok" }, "Active");
      const act = (label, onclick, cls = "small secondary", extra = {}) =>
        h("button", { type: "button", class: cls, onclick, ...extra }, label);
      return h("tr", { "data-username": a.username, class: a.disabled ? "disabled" : "" },
        h("td", {}, h("div", { class: "acct-name" }, a.display_name, self ? h("span", { class: "muted small" }, " (you)") : null),
          h("div", { class: "muted small mono" }, a.username)),
        h("td", {}, a.is_admin ? h("span", { class: "role-tag role-controller" }, "Administrator") : h("span", { class: "role-tag" }, "CSR")),
        h("td", {}, state),
        h("td", { class: "muted small" }, dateTime(a.created_at)),
        h("td", { class: "acct-actions" },
          act("Rename", () => this.rename(a), "small secondary", { "aria-label": `Rename ${a.display_name}` }),
          act("Reset password", () => this.reset(a), "small secondary", { "aria-label": `Reset the password of ${a.display_name}` }),
          act(a.is_admin ? "Remove admin" : "Make admin", () => this.patch(a, { is_admin: !a.is_admin }), "small secondary",
            { "aria-label": `${a.is_admin ? "Remove admin rights of" : "Make admin"} ${a.display_name}` }),
          a.disabled
            ? act("Enable", () => this.patch(a, { disabled: false }), "small secondary", { "aria-label": `Enable ${a.display_name}` })
            : act("Disable", () => this.disable(a), "small danger-outline", {
              "aria-label": `Disable ${a.display_name}`, disabled: self,
              title: self ? "You can't disable your own account" : undefined,
            })));
    });
    $("accounts").replaceChildren(h("table", { class: "accounts-table" },
      h("caption", { class: "sr-only" }, "Support representatives' accounts"),
      h("thead", {}, h("tr", {}, ["Name", "Role", "State", "Created", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)));
  }

  /** PATCH one account; true when it worked (the list is redrawn), else the error is shown. */
  async patch(account, body, errorId = "accounts-error") {
    showError(errorId, "");
    try {
      const updated = await api("PATCH", `/admin/csrs/${account.id}`, body);
      this.list = this.list.map((a) => (a.id === updated.id ? updated : a));
      this.render();
      return true;
    } catch (e) {
      if (!this.ctx.failed(e)) showError(errorId, this.ctx.errorText(e));
      return false;
    }
  }

  async create(button) {
    showError("new-error", "");
    const username = $("new-username").value.trim();
    const display_name = $("new-name").value.trim();
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(username)) {
      showError("new-error", "Choose a username of 1 to 64 letters, digits, dots, underscores, dashes or @.");
      $("new-username").focus();
      return;
    }
    if (!display_name) {
      showError("new-error", "Enter the name customers will see.");
      $("new-name").focus();
      return;
    }
    const password = oneTimePassword();
    if (button) button.disabled = true;
    try {
      const created = await api("POST", "/admin/csrs", {
        username, display_name, password, is_admin: $("new-admin").checked, must_change_password: true,
      });
      $("new-account").reset();
      this.list.push(created);
      this.render();
      this.showOnce(created, password, "created");
    } catch (e) {
      if (!this.ctx.failed(e)) showError("new-error", this.ctx.errorText(e));
    } finally {
      if (button) button.disabled = false;
    }
  }

  showOnce(account, password, how) {
    $("once-for").textContent = how === "created"
      ? `The account “${account.username}” (${account.display_name}) is ready. Its one-time password:`
      : `New one-time password of “${account.username}” (${account.display_name}); every device it was signed in on is signed out:`;
    $("once-password").textContent = password;
    $("once-copy").textContent = "Copy";
    $("once").hidden = false;
    $("once").focus();
  }

  hideOnce() {
    $("once-password").textContent = "";
    $("once").hidden = true;
  }

  async copyOnce() {
    try { await navigator.clipboard.writeText($("once-password").textContent); $("once-copy").textContent = "Copied ✓"; }
    catch {
      getSelection().selectAllChildren($("once-password"));
      $("once-copy").textContent = "Press Ctrl+C";
    }
  }

  /** The shared dialog: a title, a sentence, an optional name field, and what OK does. */
  dialog({ title, text, ok, okClass = "primary", field, run }) {
    $("account-dialog-title").textContent = title;
    $("account-dialog-text").textContent = text;
    $("account-dialog-ok").textContent = ok;
    $("account-dialog-ok").className = okClass;
    $("account-dialog-field").hidden = field === undefined;
    $("account-dialog-input").value = field || "";
    showError("account-dialog-error", "");
    this.confirm = async () => { if (await run()) $("account-dialog").close(); };
    $("account-dialog").showModal();
    if (field !== undefined) $("account-dialog-input").select();
  }

  rename(a) {
    this.dialog({
      title: `Rename ${a.display_name}`, text: "The new name shows in sessions started from now on.", ok: "Rename", field: a.display_name,
      run: () => {
        const name = $("account-dialog-input").value.trim();
        if (!name) { showError("account-dialog-error", "Enter a name."); return false; }
        return this.patch(a, { display_name: name }, "account-dialog-error");
      },
    });
  }

  reset(a) {
    this.dialog({
      title: `Reset the password of ${a.display_name}?`,
      text: "A new one-time password replaces the current one and every sign-in of the account ends. You will see it once.",
      ok: "Reset password",
      run: async () => {
        const password = oneTimePassword();
        const ok = await this.patch(a, { password, must_change_password: true }, "account-dialog-error");
        if (ok) this.showOnce(a, password, "reset");
        return ok;
      },
    });
  }

  disable(a) {
    this.dialog({
      title: `Disable ${a.display_name}?`,
      text: "The account is signed out everywhere and can't sign in until it is enabled again. Sessions it is in go on.",
      ok: "Disable account", okClass: "danger",
      run: () => this.patch(a, { disabled: true }, "account-dialog-error"),
    });
  }
}
