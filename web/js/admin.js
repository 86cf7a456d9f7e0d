// The administration page's main module (web/admin.html): checks that an admin is signed in
// (sign-in itself happens on the console), switches between the Accounts and Organization
// settings tabs by the URL's fragment, and signs out. The tabs live in admin-accounts.js and
// admin-settings.js; REST goes through console-api.js like the console's.

import { api, ApiError, sentence } from "./console-api.js";
import { $ } from "./console-dom.js";
import { Accounts } from "./admin-accounts.js";
import { Settings } from "./admin-settings.js";

const TABS = ["accounts", "settings"];
let me = null;

function errorText(e) {
  if (e instanceof ApiError) return e.message;
  return sentence(e && e.message ? e.message : String(e));
}

function banner(message) {
  $("banner").textContent = message || "";
  $("banner").hidden = !message;
}

/** Leave the page's content for a card that says why (not signed in, not an admin...). */
function refuse(why) {
  $("loading").hidden = true;
  $("view-admin").hidden = true;
  $("view-refused").hidden = false;
  $("refused-why").textContent = why;
}

/** A REST failure of any tab: a lapsed sign-in or lost admin rights end the page. */
function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    me = null;
    $("who").hidden = true;
    refuse("Your sign-in has ended. Sign in again on the console.");
    return true;
  }
  if (e instanceof ApiError && e.code === "admin_only") {
    refuse("Your account is no longer an administrator.");
    return true;
  }
  if (e instanceof ApiError && e.code === "password_change_required") {
    refuse("Choose a new password on the console first.");
    return true;
  }
  return false;
}

const ctx = { me: () => me, errorText, failed, banner };
const accounts = new Accounts(ctx);
const settings = new Settings(ctx);

function currentTab() {
  const tab = location.hash.replace(/^#/, "");
  return TABS.includes(tab) ? tab : "accounts";
}

function showTab() {
  const tab = currentTab();
  for (const t of TABS) {
    const active = t === tab;
    $(`panel-${t}`).hidden = !active;
    $(`tab-${t}`).setAttribute("aria-selected", String(active));
    if (active) $(`tab-${t}`).setAttribute("aria-current", "page");
    else $(`tab-${t}`).removeAttribute("aria-current");
  }
  banner("");
  if (tab === "accounts") accounts.load();
  else settings.load();
}

window.addEventListener("hashchange", () => { if (me && me.is_admin) showTab(); });

$("sign-out").addEventListener("click", async () => {
  try { await api("POST", "/logout"); } catch { /* signed out either way */ }
  location.href = "./";
});

async function boot() {
  try {
    me = await api("GET", "/me");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) refuse("You are not signed in. Sign in on the console, then open Administration from its header.");
    else refuse(errorText(e));
    return;
  }
  $("who").hidden = false;
  $("who-name").textContent = me.display_name;
  if (me.must_change_password) { refuse("Choose a new password on the console first."); return; }
  if (!me.is_admin) { refuse("Only administrators manage accounts and organization settings. Ask an administrator if you need a change."); return; }
  $("loading").hidden = true;
  $("view-admin").hidden = false;
  showTab();
}

boot();
