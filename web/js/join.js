// The customer join page's logic (join.html): join by link token or nine-digit code over REST,
// connect the WebSocket with the participant token, follow the roster, open the WebRTC mesh
// (mesh.js), chat, answer and revoke consents, share the screen (`customer_share`: the browser's
// picker is the customer's consent) and leave (file transfer: join-files.js). Every message to
// the service or a peer is checked and encoded, and every message received is decoded, by the
// protocol module (protocol.js, the protocol crate compiled to WebAssembly), which also
// pre-checks commands.

import { loadProtocol } from "./protocol.js";
import { Mesh } from "./mesh.js";
import * as view from "./join-view.js";
import { JoinMedia } from "./join-media.js";
import { JoinFiles } from "./join-files.js";

const $ = (id) => document.getElementById(id);
const STORE = "tether.join"; // sessionStorage: the participant token, for reloads of this tab

const state = {
  protocol: null,
  token: null, // participant token
  me: null,
  roster: null,
  socket: null,
  mesh: null,
  iceServers: [],
  chatId: 0,
  heartbeat: null,
  askers: new Map(), // capability → name of the CSR who asked
  finished: false, // left or ended: no reconnect
  retries: 0,
  share: null, // { stream, track, running } from the picker until sharing stops
  stopping: false, // stop_activity sent for customer_share; the roster has not shown it yet
};

const START_SHARE = { type: "start_activity", activity: "customer_share" };
const STOP_SHARE = { type: "stop_activity", activity: "customer_share" };

/** A REST call; the JSON body, or an Error whose message is the service's own words. */
async function rest(method, path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  } catch {
    throw new Error("The support service can't be reached. Check your connection and try again.");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || `The service answered ${response.status}.`);
  return data;
}

function nameOf(id) {
  return state.roster?.participants.find((p) => p.id === id)?.name ?? `participant ${id}`;
}

function roleOf(id) {
  return state.roster?.participants.find((p) => p.id === id)?.role;
}

// ---- joining ----

function linkToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  return params.get("t");
}

async function submitJoin(event) {
  event.preventDefault();
  view.showError("");
  const name = $("name").value.trim();
  const request = { name };
  const token = linkToken();
  if (token) {
    request.token = token;
  } else {
    const code = state.protocol.parseShortCode($("code").value);
    if (code.error) {
      view.showError("That code is not right: it has nine digits, like 1234-56789.");
      $("code").focus();
      return;
    }
    request.code = code.ok.code;
  }
  if (!name) {
    view.showError("Please enter your name, so the others know who you are.");
    $("name").focus();
    return;
  }
  state.finished = false;
  $("join-button").disabled = true;
  view.setStatus("Joining…");
  try {
    const joined = await rest("POST", "/api/v1/join", request);
    state.token = joined.participant.token;
    sessionStorage.setItem(STORE, JSON.stringify({ token: state.token }));
    history.replaceState(null, "", location.pathname); // the invitation is used: drop it
    await enterSession();
  } catch (e) {
    view.showError(e.message);
    view.setStatus("Not joined");
  } finally {
    $("join-button").disabled = false;
  }
}

async function enterSession() {
  try {
    state.iceServers = (await rest("GET", "/api/v1/ice", null, state.token)).ice_servers ?? [];
  } catch (e) {
    // Without ICE servers, host candidates still work on the same network.
    console.warn("ICE configuration:", e.message);
  }
  connect();
}

// ---- the WebSocket ----

function sendToService(message) {
  const checked = state.protocol.checkClient(message);
  if (checked.error) {
    view.showError(checked.error);
    return false;
  }
  if (state.socket?.readyState !== WebSocket.OPEN) {
    view.showError("Not connected to the support service right now; try again in a moment.");
    return false;
  }
  state.socket.send(JSON.stringify(checked.ok));
  return true;
}

function connect() {
  view.setStatus("Connecting…");
  const url = new URL("/api/v1/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onopen = () => sendToService({ type: "hello", version: 1, token: state.token });
  socket.onmessage = (e) => {
    const decoded = state.protocol.decodeServer(e.data);
    if (decoded.error) console.warn("undecodable message from the service:", decoded.error);
    else receive(decoded.ok);
  };
  socket.onclose = (e) => closed(socket, e);
}

function closed(socket, e) {
  if (socket !== state.socket) return;
  clearInterval(state.heartbeat);
  if (state.finished) return;
  const final = e.code === 1008 || (e.code === 1000 && e.reason !== "closed");
  if (final) {
    finish(e.reason ? `The connection was closed: ${e.reason}.` : "The connection was closed.");
    return;
  }
  state.retries += 1;
  if (state.retries > 8) {
    finish("The connection to the support service was lost.");
    return;
  }
  view.setStatus("Connection lost; reconnecting…");
  setTimeout(connect, Math.min(500 * 2 ** state.retries, 8000));
}

function finish(text) {
  state.finished = true;
  endShareLocally();
  files.closeAll();
  media.close();
  clearInterval(state.heartbeat);
  state.mesh?.close();
  sessionStorage.removeItem(STORE);
  view.setStatus("Not in a session");
  view.showDone(text);
}

function receive(message) {
  switch (message.type) {
    case "welcome":
      state.retries = 0;
      state.me = message.you;
      clearInterval(state.heartbeat);
      state.heartbeat = setInterval(() => sendToService({ type: "ping" }), message.heartbeat_ms);
      if (!state.mesh) state.mesh = newMesh();
      view.showError("");
      view.showView("session");
      view.setStatus("Connected");
      applyRoster(message.roster);
      $("chat-text").focus();
      break;
    case "roster":
      applyRoster(message.roster);
      break;
    case "event":
      onEvent(message.event);
      break;
    case "signal":
      state.mesh?.signal(message.from, message.data);
      break;
    case "error":
      if (message.request === "start_activity" && state.share && !state.share.running) {
        endShareLocally(); // the service refused the sharing: the screen goes nowhere
      }
      media.refused(message);
      if (message.request === "hello") {
        state.finished = true;
        sessionStorage.removeItem(STORE);
        view.showView("join");
        view.setStatus("Not joined");
      }
      view.showError(message.message);
      break;
    case "ended":
      finish("The support session has ended. Thank you!");
      break;
    default: // pong
  }
}

function applyRoster(roster) {
  if (state.finished) return;
  state.roster = roster;
  view.renderRoster(roster, state.me);
  document.getElementById("recording").hidden = !roster.recording; // everyone sees the recording indicator
  view.renderConsents(roster, state.me, state.askers, { answer: answerConsent, revoke: revokeConsent });
  state.mesh?.update(roster.participants);
  syncShare();
  media.render();
  files.render();
  const others = roster.participants.filter((p) => p.id !== state.me).length;
  view.setStatus(others === 0 ? "Connected; waiting for your support representative" : "Connected");
}

function onEvent(event) {
  switch (event.type) {
    case "participant_joined":
      if (event.participant !== state.me) view.addNote(`${event.name} joined.`);
      break;
    case "participant_left":
      if (event.participant !== state.me && event.reason !== "session_ended") {
        view.addNote(`${nameOf(event.participant)} left.`);
      }
      break;
    case "consent_requested":
      if (event.customer === state.me) state.askers.set(event.capability, nameOf(event.by));
      break;
    default:
  }
}

// ---- consents ----

function answerConsent(capability, granted) {
  sendToService({ type: "answer_consent", capability, granted });
}

function revokeConsent(capability) {
  sendToService({ type: "revoke_consent", capability });
}

function hasConsent(capability) {
  return state.roster?.consents.some(
    (c) => c.customer === state.me && c.capability === capability && c.state === "granted",
  );
}

// ---- the mesh and its messages ----

function newMesh() {
  return new Mesh({
    protocol: state.protocol,
    me: state.me,
    iceServers: state.iceServers,
    signal: (to, data) => sendToService({ type: "signal", to, data }),
    onOpen: (peer) => {
      console.info(`control channel to ${peer} open`);
      attachScreen(peer); // a connection made while sharing gets the screen too
      media.render();
    },
    onClose: (peer) => console.info(`control channel to ${peer} closed`),
    onMessage: peerMessage,
    onError: (peer, text) => console.warn(`peer ${peer}: ${text}`),
    onTrack: () => media.render(),
  });
}

function peerMessage(peer, message) {
  if (files.onPeerMessage(peer, message)) return; // file transfer: join-files.js
  const isCsr = ["controller", "csr"].includes(roleOf(peer));
  switch (message.type) {
    case "chat":
      view.addChatLine({ from: nameOf(peer), text: message.text, sentAt: message.sent_at, mine: false });
      break;
    case "system_info_request":
      if (isCsr && hasConsent("system_info")) {
        state.mesh.send(peer, { type: "system_info", id: message.id, info: browserInfo() });
      } else {
        const reason = isCsr
          ? "the customer has not allowed sharing system information"
          : "only support representatives may ask for system information";
        state.mesh.send(peer, { type: "refused", id: message.id, reason });
      }
      break;
    case "audio_invite":
      media.invited(peer);
      break;
    default: // input events and the rest: a browser page can't act on them
  }
}

/** What a browser can tell about its machine (protocol 9.2, `system_info`). */
function browserInfo() {
  const memory = (navigator.deviceMemory ?? 0) * 1024 ** 3;
  return {
    os: navigator.userAgentData?.platform || navigator.platform || "unknown",
    kernel: "",
    hostname: "",
    cpu_model: navigator.userAgent,
    cpu_cores: navigator.hardwareConcurrency ?? 0,
    memory_total_bytes: memory,
    memory_used_bytes: 0,
    disks: [],
    displays: [{ name: "screen", width: screen.width, height: screen.height }],
    network: [],
    uptime_secs: Math.round(performance.now() / 1000),
  };
}

// ---- sharing the screen (customer_share) ----

function runningShare() {
  return (
    state.roster?.activities.some((a) => a.activity === "customer_share" && a.actor === state.me) ?? false
  );
}

/** Why this participant can't start sharing now (the protocol's own check), or null. */
function whyNoShare() {
  if (!state.roster) return "Not connected yet.";
  if (!navigator.mediaDevices?.getDisplayMedia) return "This browser can't share its screen.";
  const r = state.protocol.checkCommand({ roster: state.roster, me: state.me }, START_SHARE);
  if (!r.error) return null;
  if (r.code === "not_primary") return "Only the main customer of this session can share a screen.";
  return r.error;
}

/** The screen sender of the connection to `peer` (the first transceiver, protocol 9.3). */
function screenSender(peer) {
  return state.mesh?.connection(peer)?.getTransceivers()[0]?.sender ?? null;
}

/** Put the shared screen on the connection to `peer`, once the service runs the activity. */
function attachScreen(peer) {
  const share = state.share;
  const sender = screenSender(peer);
  if (!share?.running || !sender || sender.track === share.track) return;
  sender.replaceTrack(share.track).catch((e) => console.warn(`screen to ${peer}: ${e.message}`));
}

function renderShare() {
  const share = state.share;
  const others = (state.roster?.participants ?? []).filter((p) => p.id !== state.me && p.connected);
  view.renderShare({
    pending: Boolean(share && !share.running),
    sharing: Boolean(share?.running),
    names: others.map((p) => p.name),
    why: share ? null : whyNoShare(),
  });
}

/** The customer clicked "Share my screen": the picker, then `customer_share`. */
async function startShare() {
  if (state.share) return;
  const why = whyNoShare();
  if (why) {
    view.showError(why);
    return;
  }
  $("share").disabled = true;
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: 15, max: 30 } },
      audio: false,
    });
  } catch (e) {
    view.showError(
      e.name === "NotAllowedError" ? "Screen sharing was cancelled." : `Your screen can't be shared: ${e.message}`,
    );
    renderShare();
    return;
  }
  const track = stream.getVideoTracks()[0];
  if (!track || state.finished || state.share) {
    for (const t of stream.getTracks()) t.stop();
    renderShare();
    return;
  }
  track.contentHint = "detail";
  // The browser's own "Stop sharing" ends the track.
  track.addEventListener("ended", () => {
    if (state.share?.track === track) stopShare();
  });
  state.share = { stream, track, running: false };
  if (!sendToService(START_SHARE)) {
    endShareLocally();
    return;
  }
  view.showError("");
  renderShare();
}

/** The customer stopped sharing (the button or the browser's own stop). */
function stopShare() {
  if (!state.share) return;
  endShareLocally();
  // The start went out before (a refused one ends the capture at once): stop it, once.
  if (!state.stopping) state.stopping = sendToService(STOP_SHARE);
}

/** Stop the capture and take the screen off every connection; the activity is not touched. */
function endShareLocally() {
  const share = state.share;
  if (!share) return;
  state.share = null;
  for (const t of share.stream.getTracks()) t.stop();
  for (const peer of state.mesh?.openPeers() ?? []) {
    const sender = screenSender(peer);
    if (sender?.track === share.track) sender.replaceTrack(null).catch(() => {});
  }
  renderShare();
}

/** After every roster: send the screen while the activity runs, and only then. */
function syncShare() {
  const running = runningShare();
  if (state.share) {
    if (running) {
      state.share.running = true;
      for (const peer of state.mesh?.openPeers() ?? []) attachScreen(peer);
    } else if (state.share.running) {
      endShareLocally(); // stopped by the service (e.g. no longer the main customer)
      view.addNote("Your screen is no longer shared.");
    }
  } else if (running && !state.stopping) {
    state.stopping = sendToService(STOP_SHARE); // running without a capture (a reloaded page)
  }
  if (!running) state.stopping = false;
  renderShare();
}

// ---- chat ----

function sendChat(event) {
  event.preventDefault();
  const input = $("chat-text");
  const checked = state.protocol.checkChatText(input.value);
  if (checked.error) {
    if (input.value.trim()) view.showError(checked.error);
    return;
  }
  const present = state.roster.participants.map((p) => p.id);
  const recipients = state.protocol.chatRecipients(present, state.me, []);
  if (recipients.error) {
    view.showError(recipients.error);
    return;
  }
  const line = { type: "chat", id: ++state.chatId, text: checked.ok, to: [], sent_at: Date.now() };
  const missed = [];
  try {
    for (const peer of recipients.ok) if (!state.mesh.send(peer, line)) missed.push(peer);
  } catch (e) {
    view.showError(e.message);
    return;
  }
  if (recipients.ok.length === 0) {
    view.showError("Nobody else is here yet to read your message.");
    return;
  }
  view.showError(missed.length ? `Not delivered to ${missed.map(nameOf).join(", ")} (not connected yet).` : "");
  view.addChatLine({ from: "You", text: line.text, sentAt: line.sent_at, mine: true });
  input.value = "";
}

// ---- leaving ----

function leave() {
  if (!sendToService({ type: "leave" })) return;
  endShareLocally();
  files.closeAll();
  media.close();
  state.finished = true;
  state.mesh?.close();
  sessionStorage.removeItem(STORE);
  view.showDone("You left the support session. You can close this page.");
  view.setStatus("Not in a session");
}

// ---- start ----

const files = new JoinFiles({
  state: () => state,
  nameOf,
  showError: view.showError,
  addNote: view.addNote,
});

const media = new JoinMedia({
  state: () => state,
  send: sendToService,
  nameOf,
  showError: view.showError,
});

async function main() {
  $("join-form").addEventListener("submit", submitJoin);
  $("chat-form").addEventListener("submit", sendChat);
  $("leave").addEventListener("click", leave);
  $("share").addEventListener("click", startShare);
  $("share-stop").addEventListener("click", stopShare);
  try {
    state.protocol = await loadProtocol();
  } catch (e) {
    view.showError(`This page could not load its protocol module: ${e.message}`);
    view.setStatus("Not available");
    return;
  }
  const stored = JSON.parse(sessionStorage.getItem(STORE) || "null");
  if (stored?.token) {
    state.token = stored.token; // a reload: rejoin with the same token
    await enterSession();
    return;
  }
  if (linkToken()) {
    $("code-field").hidden = true;
    $("join-intro").textContent = "You were invited by link. Enter your name to join.";
  }
  view.showView("join");
  view.setStatus("Not joined");
  (linkToken() ? $("name") : $("code")).focus();
}

main();
