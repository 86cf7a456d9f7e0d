// The CSR console's main module: sign-in and password change, starting a session, the live
// session (WebSocket, participants, invitations, the remote-control menu, system information,
// notes, ending) and the history of my sessions; chat, input capture, files, voice and the
// recorder live in their own console-*.js modules. Every message to and from the service and
// the peers goes through the protocol module (web/js/protocol.js, the protocol crate in wasm),
// and every rule pre-check asks it (checkCommand, startableActivities).

import { loadProtocol } from "./protocol.js";
import { api, ApiError, sentence } from "./console-api.js";
import { $, h, showError, time, dateTime } from "./console-dom.js";
import { Mesh } from "./console-mesh.js";
import { renderSystemInfo } from "./console-sysinfo.js";
import { FilePanel } from "./console-files.js";
import { InviteEmail } from "./console-invite-email.js";
import { VoicePanel } from "./console-voice.js";
import { RecorderPanel, historyRecordings } from "./console-recorder.js";
import { ROLE_NAMES, CAPABILITY_NAMES, RC_OPTIONS, ACTIVITY_NAMES } from "./console-words.js";
import { chatPanel } from "./console-chat.js";
import { captureInput } from "./console-input.js";

const VIEWS = ["loading", "view-signin", "view-password", "view-home", "view-session", "view-ended"];
const STORE = "tether.console.session";

let protocol = null;
let me = null; // the CSR account
let policy = null; // { file_transfer, recording_allowed } of GET /session-types
let sessionTypes = [];

// ---------------------------------------------------------------- views and banner

function show(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
  $("who").hidden = !me || view === "view-signin";
  if (me) $("who-name").textContent = me.display_name;
  $("admin-link").hidden = !(me && me.is_admin);
}

function banner(message) {
  $("banner").textContent = message || "";
  $("banner").hidden = !message;
}

function errorText(e) {
  if (e instanceof ApiError) return e.message;
  return sentence(e && e.message ? e.message : String(e));
}

// ---------------------------------------------------------------- sign-in

async function boot() {
  try {
    protocol = await loadProtocol();
  } catch (e) {
    banner(`The console could not load its protocol module: ${errorText(e)}`);
    $("loading").hidden = true;
    return;
  }
  try {
    me = await api("GET", "/me");
  } catch (e) {
    me = null;
    if (!(e instanceof ApiError && e.status === 401)) banner(errorText(e));
    show("view-signin");
    $("signin-user").focus();
    return;
  }
  afterSignIn();
}

function afterSignIn() {
  if (me.must_change_password) {
    show("view-password");
    $("pw-current").focus();
    return;
  }
  const saved = readSaved();
  if (saved) enterSession(saved);
  else goHome();
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError("signin-error", "");
  const username = $("signin-user").value.trim();
  const password = $("signin-pass").value;
  if (!username || !password) {
    showError("signin-error", "Enter your username and your password.");
    return;
  }
  const button = e.submitter || e.target.querySelector("button");
  button.disabled = true;
  try {
    const r = await api("POST", "/login", { username, password });
    me = r.csr;
    $("signin-pass").value = "";
    banner("");
    afterSignIn();
  } catch (err) {
    showError("signin-error", errorText(err));
    $("signin-pass").select();
  } finally {
    button.disabled = false;
  }
});

$("password-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError("password-error", "");
  const current = $("pw-current").value, next = $("pw-new").value;
  if (next !== $("pw-repeat").value) {
    showError("password-error", "The two new passwords are not the same.");
    return;
  }
  if ([...next].length < 10) {
    showError("password-error", "The new password must have at least 10 characters.");
    return;
  }
  try {
    me = await api("POST", "/me/password", { current, new: next });
    for (const id of ["pw-current", "pw-new", "pw-repeat"]) $(id).value = "";
    banner("");
    goHome();
  } catch (err) {
    showError("password-error", errorText(err));
  }
});

$("sign-out").addEventListener("click", async () => {
  if (session && session.live && !confirm("You are in a session. Sign out anyway? The session continues without you until your place times out.")) return;
  try { await api("POST", "/logout"); } catch { /* signed out either way */ }
  teardownSession();
  clearSaved();
  me = null;
  show("view-signin");
  $("signin-user").focus();
});

function onUnauthorized(e) {
  if (e instanceof ApiError && e.status === 401) {
    me = null;
    show("view-signin");
    showError("signin-error", "Your sign-in has expired. Please sign in again.");
    return true;
  }
  if (e instanceof ApiError && e.code === "password_change_required") {
    show("view-password");
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- home: start a session, history

async function goHome() {
  show("view-home");
  showError("start-error", "");
  try {
    const r = await api("GET", "/session-types");
    sessionTypes = r.session_types || [];
    policy = { file_transfer: r.file_transfer, recording_allowed: r.recording_allowed };
    const select = $("start-type");
    select.replaceChildren(...sessionTypes.map((t, i) => h("option", { value: i }, t.name + (t.requires_tracking_code ? " (tracking code required)" : ""))));
    updateTracking();
    const first = sessionTypes[0];
    $("quick-start").disabled = !first;
    $("quick-start-hint").textContent = first
      ? `Starts a "${first.name}" session${first.requires_tracking_code ? " — this type needs a tracking code, so fill it in below" : ""}.`
      : "No session type is configured; ask your administrator.";
    if (first && first.requires_tracking_code) $("quick-start").disabled = true;
  } catch (e) {
    if (!onUnauthorized(e)) showError("start-error", errorText(e));
  }
  $("quick-start").disabled ? $("start-type").focus() : $("quick-start").focus();
  loadHistory();
}

function updateTracking() {
  const t = sessionTypes[Number($("start-type").value)];
  const req = !!(t && t.requires_tracking_code);
  $("tracking-req").textContent = req ? "(required)" : "(optional)";
  $("start-tracking").required = req;
  $("start-tracking").setAttribute("aria-required", String(req));
}
$("start-type").addEventListener("change", updateTracking);

async function startSession(body) {
  showError("start-error", "");
  try {
    const r = await api("POST", "/sessions", body);
    const saved = { session: r.session, participant: r.participant };
    sessionStorage.setItem(STORE, JSON.stringify(saved));
    $("start-tracking").value = "";
    enterSession(saved);
  } catch (e) {
    if (!onUnauthorized(e)) {
      showError("start-error", errorText(e));
      if (e.code === "tracking_code_required") $("start-tracking").focus();
    }
  }
}

$("quick-start").addEventListener("click", () => startSession({}));
$("start-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = sessionTypes[Number($("start-type").value)];
  if (!t) { showError("start-error", "No session type is configured; ask your administrator."); return; }
  const tracking = $("start-tracking").value.trim();
  if (t.requires_tracking_code && !tracking) {
    showError("start-error", `A "${t.name}" session needs a tracking code.`);
    $("start-tracking").focus();
    return;
  }
  const body = { session_type: t.name };
  if (tracking) body.tracking_code = tracking;
  startSession(body);
});

async function loadHistory() {
  const box = $("history");
  const q = $("history-q").value.trim();
  const query = new URLSearchParams({ limit: "50" });
  if (q) query.set("q", q);
  try {
    const r = await api("GET", `/sessions?${query}`);
    if (!r.sessions.length) {
      box.replaceChildren(h("p", { class: "muted" }, q ? "No session matches." : "You have no sessions yet."));
      return;
    }
    const rows = r.sessions.map((s) => h("tr", {},
      h("td", {}, dateTime(s.started_at)),
      h("td", {}, s.session_type),
      h("td", {}, s.tracking_code || "—"),
      h("td", {}, s.live ? h("span", { class: "pill ok" }, "live") : s.ended_at ? `ended ${time(s.ended_at)}` : "ended"),
      h("td", {}, String(s.participants)),
      h("td", {}, h("a", { href: `/api/v1/sessions/${encodeURIComponent(s.id)}/export`, download: "" }, "Record")),
      h("td", {}, historyRecordings(s.id))));
    box.replaceChildren(h("table", {},
      h("caption", { class: "sr-only" }, "My sessions, newest first"),
      h("thead", {}, h("tr", {}, ["Started", "Type", "Tracking code", "State", "People", "", "Recordings"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)));
  } catch (e) {
    if (!onUnauthorized(e)) box.replaceChildren(h("p", { class: "form-error" }, errorText(e)));
  }
}
$("history-refresh").addEventListener("click", loadHistory);
$("history-search").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(); });

// ---------------------------------------------------------------- the live session

let session = null; // see enterSession

function readSaved() {
  try { return JSON.parse(sessionStorage.getItem(STORE)); } catch { return null; }
}
function clearSaved() { sessionStorage.removeItem(STORE); }

function enterSession(saved) {
  teardownSession();
  session = {
    id: saved.session.id,
    info: saved.session,
    token: saved.participant.token,
    you: saved.participant.id,
    roster: null,
    relinquished: [],
    departed: new Map(),
    ws: null,
    mesh: null,
    live: true,
    chatSeq: 0,
    transcript: [],
    pending: null, // { activity | "system_info", capability, customer }
    sysinfoSeq: 0,
    sysinfoAsked: new Map(),
    notesDirty: false,
    retry: 0,
    sharing: null, // MediaStream of my shared screen
    names: new Map(), // names learnt from events before the roster shows them
  };
  $("s-number").textContent = saved.session.number ?? "";
  $("s-type").textContent = saved.session.session_type;
  $("s-tracking").textContent = saved.session.tracking_code ? ` · ${saved.session.tracking_code}` : "";
  $("notes-text").value = "";
  $("notes-state").textContent = "";
  $("chat-log").replaceChildren();
  $("invitations").replaceChildren();
  $("sysinfo").hidden = true;
  $("pending").replaceChildren();
  recorder.enter(saved.session.id);
  show("view-session");
  $("session-title").focus?.();
  if (!policy) api("GET", "/session-types").then((r) => { policy = { file_transfer: r.file_transfer, recording_allowed: r.recording_allowed }; render(); }).catch(() => {});
  connect();
}

function teardownSession() {
  if (!session) return;
  recorder.teardown();
  session.live = false;
  clearInterval(session.heartbeat);
  if (session.ws) { try { session.ws.close(1000); } catch { /* closed */ } }
  if (session.mesh) session.mesh.closeAll();
  if (session.sharing) session.sharing.getTracks().forEach((t) => t.stop());
  voice.teardown();
  session = null;
}

function setWsState(text, kind) {
  const el = $("ws-state");
  el.textContent = text;
  el.className = `pill ${kind || ""}`;
}

function connect() {
  const s = session;
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`);
  s.ws = ws;
  setWsState("Connecting…", "warn");
  ws.onopen = () => {
    const hello = protocol.checkClient({ type: "hello", version: 1, token: s.token });
    if (hello.error) { banner(sentence(hello.error)); return; }
    ws.send(JSON.stringify(hello.ok));
  };
  ws.onmessage = (e) => {
    if (session !== s) return;
    const r = protocol.decodeServer(e.data);
    if (r.error) { banner(`The service sent a message the console can't read: ${sentence(r.error)}`); return; }
    onServer(r.ok);
  };
  ws.onclose = (e) => {
    if (session !== s || s.ws !== ws) return;
    clearInterval(s.heartbeat);
    if (!s.live) return;
    if (e.code === 1008) { // hello refused: the session is gone for us
      sessionGone(s.refusal || "The service refused the connection to this session.");
      return;
    }
    s.retry = Math.min(s.retry + 1, 5);
    setWsState("Reconnecting…", "warn");
    setTimeout(() => { if (session === s && s.live) connect(); }, 500 * 2 ** s.retry);
  };
}

function send(message) {
  const r = protocol.checkClient(message);
  if (r.error) return sentence(r.error);
  if (!session) return "You are not in a session.";
  if (!session.ws || session.ws.readyState !== WebSocket.OPEN) return "Not connected to the service right now; try again in a moment.";
  session.ws.send(JSON.stringify(r.ok));
  return null;
}

/** Ask the protocol whether `command` from me would be accepted now; null or a sentence. */
function precheck(command) {
  if (!session.roster) return "Not connected yet.";
  const r = protocol.checkCommand(known(), command);
  return r.error ? sentence(r.error) : null;
}

function known() {
  const k = { roster: session.roster, me: session.you, relinquished: session.relinquished, departed: [...session.departed.values()] };
  if (policy) k.policy = policy;
  return k;
}

async function startMesh() {
  const s = session;
  let iceServers = [];
  try {
    const r = await api("GET", "/ice", undefined, s.token);
    iceServers = r.ice_servers || [];
  } catch (e) {
    if (e.code === "not_in_session") return;
  }
  if (session !== s || s.mesh) return;
  s.mesh = new Mesh({
    protocol, me: s.you, iceServers,
    signal: (to, data) => { const err = send({ type: "signal", to, data }); if (err) console.warn("signal", err); },
    onMessage: onPeerMessage,
    onPeerError: (from, error) => chat.notice(`Message from ${nameOf(from)} refused: ${sentence(error)}`),
    onChange: (id) => { renderPeople(); renderScreen(); voice.render(); files.peerChanged(id); },
  });
  if (s.roster) s.mesh.update(s.roster);
  for (const [from, data] of s.earlySignals || []) s.mesh.handleSignal(from, data);
  s.earlySignals = null;
}

function onServer(m) {
  const s = session;
  switch (m.type) {
    case "welcome":
      s.retry = 0;
      s.you = m.you;
      setWsState("Connected", "ok");
      clearInterval(s.heartbeat);
      s.heartbeat = setInterval(() => send({ type: "ping", id: Date.now() % 1e9 }), Math.max(5000, m.heartbeat_ms / 2));
      setRoster(m.roster);
      startMesh();
      break;
    case "roster":
      setRoster(m.roster);
      break;
    case "event":
      onEvent(m.event);
      break;
    case "signal":
      if (s.mesh) s.mesh.handleSignal(m.from, m.data);
      else (s.earlySignals ||= []).push([m.from, m.data]);
      break;
    case "error":
      if (m.request === "hello") { s.refusal = sentence(m.message); break; }
      if (m.request === "signal") break; // the mesh retries when the roster changes
      if (s.pending && (m.request === "request_consent" || m.request === "start_activity")) clearPending();
      voice.refused(m);
      banner(sentence(m.message));
      break;
    case "ended":
      s.live = false;
      sessionGone(endReason(m.reason), m.notes);
      break;
    default:
      break;
  }
}

function endReason(reason) {
  return {
    ended: "The controller ended the session.",
    controller_left: "The controller left, and no other support representative was present.",
    controller_timed_out: "The controller was disconnected for too long.",
  }[reason] || "The session has ended.";
}

function sessionGone(why) {
  const s = session;
  teardownSession();
  clearSaved();
  $("ended-why").textContent = why;
  show("view-ended");
  $("ended-home").focus();
  void s;
}
$("ended-home").addEventListener("click", () => { banner(""); goHome(); });

function onEvent(ev) {
  const s = session;
  recorder.onEvent(ev);
  switch (ev.type) {
    case "control_transferred":
      if (!s.relinquished.includes(ev.from)) s.relinquished.push(ev.from);
      s.relinquished = s.relinquished.filter((id) => id !== ev.to);
      chat.notice(`${nameOf(ev.from)} handed control to ${nameOf(ev.to)}.`);
      break;
    case "participant_joined":
      s.names.set(ev.participant, ev.name);
      chat.notice(`${ev.name} joined as ${ROLE_NAMES[ev.role] || ev.role}.`);
      break;
    case "participant_left": {
      const entry = s.roster && s.roster.participants.find((p) => p.id === ev.participant);
      if (entry) s.departed.set(entry.id, entry);
      s.relinquished = s.relinquished.filter((id) => id !== ev.participant);
      chat.notice(`${nameOf(ev.participant)} ${ev.reason === "timed_out" ? "was disconnected too long and left" : "left"}.`);
      break;
    }
    case "primary_changed":
      if (ev.primary) chat.notice(`${nameOf(ev.primary)} is now the primary customer.`);
      break;
    case "consent_answered":
      chat.notice(`${nameOf(ev.customer)} ${ev.granted ? "allowed" : "declined"}: ${CAPABILITY_NAMES[ev.capability] || ev.capability}.`);
      break;
    case "consent_revoked":
      chat.notice(`${nameOf(ev.customer)} withdrew consent: ${CAPABILITY_NAMES[ev.capability] || ev.capability}.`);
      break;
    case "activity_stopped":
      if (ev.actor === s.you && (ev.activity === "share_desktop" || ev.activity === "share_application")) stopSharing();
      if (ev.reason !== "stopped" && ev.reason !== "session_ended") chat.notice(`${ACTIVITY_NAMES[ev.activity] || ev.activity} stopped (${ev.reason.replaceAll("_", " ")}).`);
      break;
    case "notes_saved":
      if (ev.by !== s.you) {
        if (!s.notesDirty) $("notes-text").value = ev.notes;
        $("notes-state").textContent = `${nameOf(ev.by)} saved notes at ${time(Date.now())}${s.notesDirty ? " (your unsaved edits are kept)" : ""}.`;
      }
      break;
    default:
      break;
  }
}

function setRoster(roster) {
  const s = session;
  // Keep the last entry of everyone who leaves, for record_chat and the rules.
  if (s.roster) for (const p of s.roster.participants) {
    if (!roster.participants.some((q) => q.id === p.id)) s.departed.set(p.id, p);
  }
  s.roster = roster;
  if (s.mesh) s.mesh.update(roster);
  progressPending();
  render();
}

function nameOf(id) {
  const s = session;
  const p = s && ((s.roster && s.roster.participants.find((q) => q.id === id)) || s.departed.get(id));
  const name = p ? p.name : s && s.names.get(id);
  return name ? (id === s.you ? `${name} (you)` : name) : `participant ${id}`;
}

function myRole() {
  const p = session.roster && session.roster.participants.find((q) => q.id === session.you);
  return p ? p.role : null;
}

// ---------------------------------------------------------------- rendering

function render() {
  if (!session || !session.roster) return;
  const role = myRole();
  $("s-role").textContent = (ROLE_NAMES[role] || "—").toLowerCase();
  $("rec-state").hidden = !session.roster.recording;
  const isController = role === "controller";
  $("end-btn").hidden = !isController;
  renderPeople();
  chat.renderRecipients();
  renderRcMenu();
  renderActivities();
  renderScreen();
  $("sysinfo-btn").disabled = !primary();
  files.render();
  voice.render();
  recorder.render();
}

function primary() {
  const r = session.roster;
  return r && r.primary ? r.participants.find((p) => p.id === r.primary) : null;
}

function renderPeople() {
  if (!session || !session.roster) return;
  const list = session.roster.participants.map((p) => {
    const mine = p.id === session.you;
    const peer = mine ? null : session.mesh ? session.mesh.state(p.id) : "none";
    const actions = [];
    if (!mine && (p.role === "customer")) {
      const why = precheck({ type: "make_primary", customer: p.id });
      actions.push(h("button", { type: "button", class: "small secondary", disabled: !!why, title: why || `Make ${p.name} the primary customer`, onclick: () => command({ type: "make_primary", customer: p.id }) }, "Make primary"));
    }
    if (!mine && p.role === "csr") {
      const why = precheck({ type: "transfer_control", to: p.id });
      actions.push(h("button", { type: "button", class: "small secondary", disabled: !!why, title: why || `Hand control to ${p.name}`, onclick: () => { if (confirm(`Hand control of the session to ${p.name}? Your viewing, control and file transfer stop.`)) command({ type: "transfer_control", to: p.id }); } }, "Transfer control"));
    }
    const conn = p.connected ? (mine ? "online" : peerLabel(peer)) : "disconnected";
    return h("li", { class: `person ${p.connected ? "" : "offline"}` },
      h("span", { class: `avatar role-${p.role}`, "aria-hidden": "true" }, (p.name.trim()[0] || "?").toUpperCase()),
      h("div", { class: "pmain" },
        h("div", { class: "pname" }, p.name, mine ? h("span", { class: "muted" }, " (you)") : null),
        h("div", { class: "pmeta" },
          h("span", { class: `role-tag role-${p.role}` }, ROLE_NAMES[p.role] || p.role),
          h("span", { class: `conn ${p.connected ? "on" : "off"}` }, conn))),
      actions.length ? h("div", { class: "pactions" }, actions) : null);
  });
  $("people").replaceChildren(...list);
}

function peerLabel(state) {
  return { open: "connected", connected: "connecting…", connecting: "connecting…", new: "connecting…", failed: "no direct connection", none: "online", disconnected: "reconnecting…", closed: "online" }[state] || state;
}

function command(cmd) {
  showError("people-error", "");
  const why = precheck(cmd);
  if (why) { showError("people-error", why); return false; }
  const err = send(cmd);
  if (err) { showError("people-error", err); return false; }
  return true;
}

// ---------------------------------------------------------------- invitations

$("invite-btn").addEventListener("click", () => toggleInvite());
$("invite-close").addEventListener("click", () => toggleInvite(false));
function toggleInvite(open = $("invite-panel").hidden) {
  $("invite-panel").hidden = !open;
  $("invite-btn").setAttribute("aria-expanded", String(open));
  if (open) $("invite-customer").focus(); else $("invite-btn").focus();
}
$("invite-customer").addEventListener("click", () => invite("customer"));
$("invite-csr").addEventListener("click", () => invite("csr"));

new InviteEmail({ invite });

/** Create an invitation for `role` (sent to `email` when given); true when it worked. */
async function invite(role, email) {
  showError("invite-error", "");
  try {
    const r = await api("POST", `/sessions/${encodeURIComponent(session.id)}/invitations`, email ? { role, email } : { role });
    const linkId = `link-${r.id}`;
    const copy = h("button", { type: "button", class: "small primary", onclick: async (e) => {
      const btn = e.currentTarget;
      try { await navigator.clipboard.writeText(r.link); btn.textContent = "Copied ✓"; }
      catch { $(linkId).select(); btn.textContent = "Press Ctrl+C"; }
      setTimeout(() => { btn.textContent = "Copy link"; }, 2500);
    } }, "Copy link");
    const card = h("article", { class: "invitation", "aria-label": `${role === "csr" ? "CSR" : "Customer"} invitation` },
      h("div", { class: "row between" },
        h("strong", {}, role === "csr" ? "Invitation for a support representative" : "Invitation for a customer"),
        h("span", { class: "muted small" }, `single use · expires ${time(r.expires_at)}`)),
      r.code ? h("div", { class: "code-wrap" },
        h("span", { class: "muted small" }, "Code to read over the phone"),
        h("output", { class: "code", "aria-label": `Code ${r.code.split("").join(" ")}` }, r.code)) : null,
      h("label", { for: linkId, class: "small" }, "Link"),
      h("div", { class: "row" }, h("input", { id: linkId, readonly: true, value: r.link, onfocus: (e) => e.target.select() }), copy),
      role === "csr" ? h("p", { class: "muted small" }, "The other representative must be signed in to use it.") : null,
      r.emailed_to ? h("p", { class: "emailed small" }, `✉ Sent by e-mail to ${r.emailed_to}`) : null);
    $("invitations").prepend(card);
    copy.focus();
    return true;
  } catch (e) {
    if (!onUnauthorized(e)) showError("invite-error", errorText(e));
    return false;
  }
}

// ---------------------------------------------------------------- remote control menu

$("rc-btn").addEventListener("click", () => toggleRc());
function toggleRc(open = $("rc-menu").hidden) {
  $("rc-menu").hidden = !open;
  $("rc-btn").setAttribute("aria-expanded", String(open));
  if (open) { renderRcMenu(); const first = $("rc-menu").querySelector("button:not([disabled])"); if (first) first.focus(); }
}
document.addEventListener("keydown", (e) => {
  if ($("rc-menu").hidden) return;
  if (e.key === "Escape") { toggleRc(false); $("rc-btn").focus(); return; }
  if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
  const items = [...$("rc-menu").querySelectorAll("button:not([disabled])")];
  if (!items.length) return;
  e.preventDefault();
  const i = items.indexOf(document.activeElement);
  const next = e.key === "ArrowDown" ? (i + 1) % items.length : (i <= 0 ? items.length - 1 : i - 1);
  items[next].focus();
});
document.addEventListener("click", (e) => {
  if (!$("rc-menu").hidden && !e.target.closest(".menu-wrap")) toggleRc(false);
});

function startable() {
  const r = protocol.startableActivities(known());
  return r.error ? [] : r.ok;
}

function renderRcMenu() {
  if (!session || !session.roster) return;
  const can = Object.fromEntries(startable().map((a) => [a.activity, a]));
  const running = new Set(session.roster.activities.filter((a) => a.actor === session.you).map((a) => a.activity));
  const items = RC_OPTIONS.map(([activity, label, hint]) => {
    const a = can[activity] || { allowed: false, error: "not available" };
    const isRunning = running.has(activity);
    const needsConsent = !a.allowed && a.code === "consent_required";
    const usable = isRunning || a.allowed || needsConsent;
    let note = hint;
    if (isRunning) note = "Running — choose to stop.";
    else if (needsConsent) note = `${hint} The customer is asked first.`;
    else if (!a.allowed) note = sentence(a.error);
    return h("button", { type: "button", class: `menu-item ${isRunning ? "running" : ""}`, disabled: !usable,
      onclick: () => { toggleRc(false); isRunning ? stopActivity(activity) : chooseActivity(activity, a); } },
      h("span", { class: "mi-label" }, isRunning ? `Stop: ${label}` : label),
      h("span", { class: "mi-note" }, note));
  });
  $("rc-menu").replaceChildren(...items);
}

async function chooseActivity(activity, a) {
  banner("");
  if (a.code === "consent_required") {
    askConsent({ activity, capability: a.capability, customer: a.participant });
    return;
  }
  if (activity === "share_desktop" || activity === "share_application") {
    await startSharing(activity);
    return;
  }
  startActivity(activity);
}

function startActivity(activity) {
  const cmd = { type: "start_activity", activity };
  const why = precheck(cmd);
  if (why) { banner(why); return false; }
  const err = send(cmd);
  if (err) { banner(err); return false; }
  return true;
}

function stopActivity(activity) {
  const err = send({ type: "stop_activity", activity });
  if (err) banner(err);
}

function askConsent(p) {
  const cmd = { type: "request_consent", customer: p.customer, capability: p.capability };
  const why = precheck(cmd);
  if (why) { banner(why); return; }
  const err = send(cmd);
  if (err) { banner(err); return; }
  session.pending = { ...p, since: Date.now() };
  renderPending();
}

function consentState(customer, capability) {
  const c = session.roster.consents.find((x) => x.customer === customer && x.capability === capability);
  return c ? c.state : null;
}

/** Follow a consent we asked for: start the activity once granted, say so when declined. */
function progressPending() {
  const p = session.pending;
  if (!p) return;
  const st = consentState(p.customer, p.capability);
  if (st === "granted") {
    session.pending = null;
    if (p.activity === "system_info") requestSystemInfo();
    else startActivity(p.activity);
  } else if (st === "denied" || st === "revoked") {
    session.pending = null;
    const helper = p.capability === "remote_control"
      ? " A customer on the web page needs the tether helper for control: invite them again, and they run the helper with that code."
      : "";
    banner(`${nameOf(p.customer)} did not allow you to ${CAPABILITY_NAMES[p.capability] || p.capability}.${helper}`);
  } else if (!session.roster.participants.some((x) => x.id === p.customer)) {
    session.pending = null;
    banner(`${nameOf(p.customer)} left before answering.`);
  }
  renderPending();
}

function clearPending() { session.pending = null; renderPending(); }

function renderPending() {
  const box = $("pending");
  const p = session && session.pending;
  if (!p) { box.replaceChildren(); return; }
  const what = p.activity === "system_info" ? "share system information" : CAPABILITY_NAMES[p.capability];
  box.replaceChildren(h("div", { class: "waiting" },
    h("span", { class: "spinner", "aria-hidden": "true" }),
    h("span", {}, `Waiting for ${nameOf(p.customer)} to allow you to ${what}…`),
    h("button", { type: "button", class: "small secondary", onclick: clearPending }, "Stop waiting")));
}

async function startSharing(activity) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
    banner("This browser can't share the screen.");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 30 }, audio: false });
  } catch {
    banner("Screen sharing was cancelled.");
    return;
  }
  if (!startActivity(activity)) { stream.getTracks().forEach((t) => t.stop()); return; }
  session.sharing = stream;
  const track = stream.getVideoTracks()[0];
  track.onended = () => { if (session) stopActivity(activity); };
  if (session.mesh) session.mesh.shareScreen(track);
}

function stopSharing() {
  if (!session || !session.sharing) return;
  session.sharing.getTracks().forEach((t) => t.stop());
  session.sharing = null;
  if (session.mesh) session.mesh.shareScreen(null);
}

function renderActivities() {
  const acts = session.roster.activities;
  if (!acts.length) { $("activities").replaceChildren(); return; }
  $("activities").replaceChildren(...acts.map((a) => h("div", { class: "activity" },
    h("span", { class: "dot", "aria-hidden": "true" }),
    h("span", {}, `${ACTIVITY_NAMES[a.activity] || a.activity} — ${nameOf(a.actor)}${a.target ? ` → ${nameOf(a.target)}` : ""}`),
    a.actor === session.you ? h("button", { type: "button", class: "small secondary", onclick: () => stopActivity(a.activity) }, "Stop") : null)));
}

/** Show the primary customer's screen while someone views or controls it. */
function renderScreen() {
  if (!session || !session.roster) return;
  const video = $("screen");
  const acts = session.roster.activities;
  const viewing = acts.find((a) => a.target && ["view_desktop", "control_desktop", "view_application", "control_application"].includes(a.activity));
  const sharer = viewing ? viewing.target : (acts.find((a) => ["share_desktop", "share_application", "customer_share"].includes(a.activity) && a.actor !== session.you) || {}).actor;
  const track = sharer && session.mesh ? session.mesh.screenOf(sharer) : null;
  if (track) {
    if (!video.srcObject || video.srcObject.getVideoTracks()[0] !== track) video.srcObject = new MediaStream([track]);
    $("screen-empty").hidden = true;
    video.hidden = false;
  } else if (session.sharing) {
    video.srcObject = session.sharing;
    $("screen-empty").hidden = true;
    video.hidden = false;
  } else {
    video.srcObject = null;
    video.hidden = true;
    $("screen-empty").hidden = false;
    $("screen-empty").textContent = sharer ? `Waiting for ${nameOf(sharer)}'s screen…` : "Nothing is shared yet. Use Remote control to ask the customer to share their screen.";
  }
  const controlling = acts.some((a) => a.actor === session.you && (a.activity === "control_desktop" || a.activity === "control_application"));
  video.tabIndex = controlling ? 0 : -1;
  video.classList.toggle("controlling", controlling);
}

// Remote input: while I control, pointer and keyboard on the video go to the primary customer.
captureInput($("screen"), { session: () => session, validate: (event) => protocol.validateInput(event) });

// ---------------------------------------------------------------- file transfer (advanced)

const files = new FilePanel({
  protocol: { checkFileName: (name) => protocol.checkFileName(name), sha256: () => protocol.sha256() },
  session: () => session,
  policy: () => policy,
  primary: () => (session ? primary() : null),
  nameOf,
  startable,
  askConsent,
  startActivity,
  stopActivity,
  sendToService: send,
  sentence,
});

// ---------------------------------------------------------------- recording

const recorder = new RecorderPanel({
  session: () => session,
  startable,
  primary: () => (session ? primary() : null),
  askConsent,
  startActivity,
  stopActivity,
  nameOf,
  sentence,
});

// ---------------------------------------------------------------- voice and video

const voice = new VoicePanel({
  session: () => session,
  nameOf,
  precheck,
  startActivity,
  stopActivity,
  banner,
});

// ---------------------------------------------------------------- system information

$("sysinfo-btn").addEventListener("click", () => {
  banner("");
  const p = primary();
  if (!p) { banner("There is no primary customer to ask."); return; }
  if (consentState(p.id, "system_info") === "granted") requestSystemInfo();
  else askConsent({ activity: "system_info", capability: "system_info", customer: p.id });
});
$("sysinfo-close").addEventListener("click", () => { $("sysinfo").hidden = true; $("sysinfo-btn").focus(); });

function requestSystemInfo() {
  const p = primary();
  if (!p) return;
  const id = ++session.sysinfoSeq;
  const err = session.mesh ? session.mesh.send(p.id, { type: "system_info_request", id }) : "no direct connection yet";
  $("sysinfo").hidden = false;
  if (err) {
    $("sysinfo-body").replaceChildren(h("p", { class: "form-error" }, `Could not ask ${p.name}: ${err}.`));
    return;
  }
  session.sysinfoAsked.set(id, p.id);
  $("sysinfo-body").replaceChildren(h("p", { class: "muted" }, `Asked ${p.name}'s computer…`));
}

// ---------------------------------------------------------------- peer messages and chat

function onPeerMessage(from, msg) {
  if (files.onPeerMessage(from, msg)) return;
  if (voice.onPeerMessage(from, msg)) return;
  switch (msg.type) {
    case "chat":
      session.transcript.push({ from, to: msg.to || [], text: msg.text, sent_at: msg.sent_at });
      chat.line(from, msg.to || [], msg.text, msg.sent_at);
      break;
    case "system_info":
    case "refused":
      if (session.sysinfoAsked.get(msg.id) !== from) {
        chat.notice(`${nameOf(from)} sent an answer to a request that was not made.`);
        return;
      }
      session.sysinfoAsked.delete(msg.id);
      $("sysinfo").hidden = false;
      $("sysinfo-body").replaceChildren(msg.type === "system_info"
        ? renderSystemInfo(msg.info, nameOf(from))
        : h("p", { class: "form-error" }, `${nameOf(from)}'s computer refused: ${sentence(msg.reason)}`));
      break;
    default:
      break;
  }
}

const chat = chatPanel({ session: () => session, protocol: () => protocol, nameOf });

// ---------------------------------------------------------------- notes, leave, end

$("notes-text").addEventListener("input", () => { if (session) { session.notesDirty = true; $("notes-state").textContent = "Unsaved changes"; } });
$("notes-save").addEventListener("click", saveNotes);

async function saveNotes() {
  if (!session) return false;
  $("notes-state").textContent = "Saving…";
  try {
    const r = await api("PUT", `/sessions/${encodeURIComponent(session.id)}/notes`, { notes: $("notes-text").value });
    session.notesDirty = false;
    $("notes-text").value = r.notes;
    $("notes-state").textContent = `Saved at ${time(Date.now())}`;
    return true;
  } catch (e) {
    if (!onUnauthorized(e)) $("notes-state").textContent = errorText(e);
    return false;
  }
}

$("leave-btn").addEventListener("click", async () => {
  const why = precheck({ type: "leave" });
  if (why) { banner(why); return; }
  const alone = myRole() === "controller";
  if (!confirm(alone ? "You are the only support representative: leaving ends the session for everyone. Leave?" : "Leave this session?")) return;
  if (alone) { await recorder.finish(); if (!session) return; recordChat(); }
  const err = send({ type: "leave" });
  if (err) banner(err);
  else { session.live = false; sessionGone("You left the session."); }
});

$("end-btn").addEventListener("click", () => {
  showError("end-error", "");
  $("end-notes").value = $("notes-text").value;
  $("end-dialog").showModal();
  $("end-notes").focus();
});
$("end-cancel").addEventListener("click", () => $("end-dialog").close());
$("end-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const cmd = { type: "end", notes: $("end-notes").value };
  const why = precheck(cmd);
  if (why) { showError("end-error", why); return; }
  await recorder.finish(); // the recording is uploaded while the session is live
  if (!session) return;
  recordChat();
  const err = send(cmd);
  if (err) { showError("end-error", err); return; }
  $("end-dialog").close();
});

/** Attach my chat transcript to the record (controller only), in batches of 200 lines. */
function recordChat() {
  const lines = session.transcript.splice(0);
  for (let i = 0; i < lines.length; i += 200) {
    const cmd = { type: "record_chat", lines: lines.slice(i, i + 200) };
    if (precheck(cmd)) return;
    send(cmd);
  }
}

window.addEventListener("beforeunload", (e) => {
  if (session && session.live && session.notesDirty) { e.preventDefault(); e.returnValue = ""; }
});

boot();
