// The console's file-transfer panel (docs/protocol.md section 9.2, "File transfer" and "Basic
// mode"). Basic: the CSR publishes files (`files_published` to every customer, again to each
// customer that connects) and serves the `file_download`s of customers with `file_offer` while
// its `file_transfer_basic` activity runs. Advanced: the CSR sends a file to the primary
// customer (`file_offer`) or fetches one from it (`file_fetch`, answered by the customer's
// `file_offer` of the same id); the customer's endpoint asks its user to approve each. The
// panel starts the activity it needs when it is not running (asking the customer's consent first
// when the protocol says so), shows progress, verifies SHA-256 (fetched files are offered for
// saving only when it matched), reports each finished transfer to the record with
// `report_transfer`, and "End file transfer" stops the activities and every transfer under way.
// Every rule pre-check asks the protocol module (startable activities); the bytes are moved by
// file-transfer.js, hashing incrementally, so files of any size work.

import { $, h } from "./console-dom.js";
import { bytesText, hashFile, sendFile, incomingChannel, receiveFile, saveLink } from "./file-transfer.js";

/** Transfer ids start here, apart from the console's other request ids. */
const FIRST_ID = 1000001;
/** How long the panel waits for the activity to start (the customer may be asked first). */
const START_WAIT_MS = 180000;
const BASIC = "file_transfer_basic";
const ADVANCED = "file_transfer_advanced";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class FilePanel {
  /**
   * @param {object} c what the console lends the panel
   * @param {object} c.protocol the functions of js/protocol.js (checkFileName, sha256)
   * @param {() => object|null} c.session the console's current session
   * @param {() => object|null} c.policy { file_transfer, recording_allowed } or null
   * @param {() => object|null} c.primary the primary customer's roster entry
   * @param {(id:number) => string} c.nameOf a participant's name
   * @param {() => object[]} c.startable the protocol's startable activities now
   * @param {(pending:object) => void} c.askConsent ask a customer's consent, then start
   * @param {(activity:string) => boolean} c.startActivity start an activity
   * @param {(activity:string) => void} [c.stopActivity] stop an activity of this CSR
   * @param {(message:object) => string|null} [c.sendToService] a message for the service
   * @param {(text:string) => string} c.sentence an error as a sentence
   */
  constructor(c) {
    this.c = c;
    this.seq = FIRST_ID - 1;
    this.transfers = new Map(); // "peer:id" → transfer
    this.published = new Map(); // id → { id, name, size, sha256, file }
    this.listed = new WeakSet(); // connections that got the published list
    this.running = { [BASIC]: false, [ADVANCED]: false };
    const picked = (id, act) => $(id).addEventListener("change", () => {
      const input = $(id);
      const file = input.files && input.files[0];
      input.value = "";
      if (file) act(file).catch((e) => this.say(`${file.name}: ${this.c.sentence(e.message || String(e))}`, true));
    });
    picked("file-input", (f) => this.send(f));
    picked("publish-input", (f) => this.publish(f));
    $("fetch-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const name = $("fetch-name").value.trim();
      this.fetch(name).catch((err) => this.say(`${name}: ${this.c.sentence(err.message || String(err))}`, true));
    });
    $("files-end").addEventListener("click", () => this.end());
  }

  // ---- state and rendering

  me() {
    const s = this.c.session();
    return s ? s.you : null;
  }

  /** Whether this CSR's `activity` runs (for advanced: toward `target` when given). */
  isRunning(activity, target) {
    const s = this.c.session();
    return !!(s && s.roster && s.roster.activities.some((a) => a.actor === s.you && a.activity === activity && (target === undefined || a.target === target)));
  }

  roleOf(id) {
    const s = this.c.session();
    const p = s && s.roster && s.roster.participants.find((q) => q.id === id);
    return p ? p.role : null;
  }

  isCustomer(id) {
    return ["customer", "primary_customer"].includes(this.roleOf(id));
  }

  /** Show the panel when the organization allows file transfer; the parts its mode allows. */
  render() {
    const s = this.c.session();
    const policy = this.c.policy();
    const mode = policy ? policy.file_transfer : "off";
    const on = !!(s && s.roster && (mode === "basic" || mode === "advanced"));
    $("files").hidden = !on;
    if (!on) return;
    const startable = this.c.startable();
    const can = (activity) => this.isRunning(activity) || startable.some((a) => a.activity === activity && (a.allowed || a.code === "consent_required"));
    $("publish-box").hidden = !can(BASIC) && this.published.size === 0;
    const p = this.c.primary();
    $("advanced-box").hidden = mode !== "advanced";
    $("file-input").disabled = !p || !can(ADVANCED);
    $("fetch-name").disabled = $("fetch-button").disabled = !p || !can(ADVANCED);
    $("file-hint").textContent = mode !== "advanced"
      ? "Basic file transfer: customers download the files you publish."
      : p
        ? `Sending and fetching with ${p.name}; they approve each file.`
        : "There is no primary customer to send to or fetch from.";
    $("files-end").hidden = !this.isRunning(BASIC) && !this.isRunning(ADVANCED);
    // An activity that stopped (here, with the activities' Stop button, or by the service)
    // ends what it carried.
    for (const activity of [BASIC, ADVANCED]) {
      const now = this.isRunning(activity);
      if (this.running[activity] && !now) this.stopped(activity, "file transfer ended");
      this.running[activity] = now;
    }
  }

  /** A line in the panel's status area; `error` styles it as a failure. */
  say(text, error = false) {
    const line = h("p", { class: error ? "form-error" : "muted" }, text);
    $("file-status").replaceChildren(line);
    return line;
  }

  /** A row for transfer `t` in the list, with a progress bar. */
  row(t, label) {
    t.bar = h("progress", { max: String(Math.max(t.size || 0, 1)), value: "0" });
    t.status = h("span", { class: "file-state" });
    t.extra = h("span", { class: "file-extra" });
    t.row = h("li", { class: "file-row", "data-id": String(t.id), "data-kind": t.kind },
      h("div", {}, h("strong", {}, t.name), ` ${label}`, t.size !== undefined ? ` (${bytesText(t.size)})` : ""),
      t.bar, t.status, t.extra);
    $("file-list").prepend(t.row);
  }

  show(t, text, kind = "") {
    t.row.className = `file-row ${kind}`;
    t.status.textContent = text;
  }

  progress(t, done) {
    t.bar.max = Math.max(t.size, 1);
    t.bar.value = t.size ? done : 1;
  }

  // ---- activities

  /** Start `activity` unless it runs; resolves once the roster shows it running. */
  async ensureActivity(activity) {
    if (this.isRunning(activity)) return;
    const a = this.c.startable().find((x) => x.activity === activity);
    if (!a) throw new Error(activity === BASIC ? "publishing files is not available" : "advanced file transfer is not available");
    if (a.allowed) {
      if (!this.c.startActivity(activity)) throw new Error("the file transfer activity could not be started");
    } else if (a.code === "consent_required") {
      this.say(`Waiting for ${this.c.nameOf(a.participant)} to allow file transfer…`);
      this.c.askConsent({ activity, capability: a.capability, customer: a.participant });
    } else {
      throw new Error(this.c.sentence(a.error));
    }
    const started = Date.now();
    while (!this.isRunning(activity)) {
      const s = this.c.session();
      if (!s || !s.live) throw new Error("the session is over");
      if (Date.now() - started > START_WAIT_MS) throw new Error("the file transfer activity did not start");
      // A consent that was declined ends the wait (the console's banner says so).
      if (a.code === "consent_required" && !s.pending && Date.now() - started > 500) {
        const c = s.roster.consents.find((x) => x.customer === a.participant && x.capability === a.capability);
        if (c && (c.state === "denied" || c.state === "revoked")) throw new Error("the customer did not allow file transfer");
      }
      await sleep(100);
    }
    this.render();
    // The customer's endpoint learns of the activity from the same roster: give it a moment.
    await sleep(500);
  }

  /** Send a peer message; null when it went out, else the reason in words. */
  peerSend(to, message) {
    const s = this.c.session();
    return s && s.mesh ? s.mesh.send(to, message) : "no direct connection yet";
  }

  /** Record a finished transfer (`outcome`: completed, refused, failed, cancelled). */
  report(t, outcome) {
    if (!this.c.sendToService || t.reported) return;
    t.reported = true;
    const direction = { send: "to_customer", fetch: "from_customer", download: "published" }[t.kind];
    const transfer = { name: t.name, size: t.size || 0, sha256: outcome === "completed" ? t.sha256 : "", direction, outcome, customer: t.peer };
    const err = this.c.sendToService({ type: "report_transfer", transfer });
    if (err) console.warn("report_transfer:", err);
  }

  finish(t, text, outcome) {
    if (t.state === "done") return;
    t.state = "done";
    this.show(t, text, outcome === "completed" ? "ok" : "failed");
    if (outcome === "completed") this.progress(t, t.size);
    try { t.channel?.close(); } catch { /* closed */ }
    t.channel = null;
    t.file = null;
    this.report(t, outcome);
  }

  // ---- basic: publishing

  async publish(file) {
    const named = this.c.protocol.checkFileName(file.name);
    if (named.error) throw new Error(named.error);
    await this.ensureActivity(BASIC);
    this.say(`Checking ${file.name}…`);
    const sha256 = await hashFile(this.c.protocol, file, (done) => this.say(`Checking ${file.name}… ${Math.floor((done * 100) / Math.max(file.size, 1))}%`));
    const id = ++this.seq;
    this.published.set(id, { id, name: named.ok, size: file.size, sha256, file });
    this.say(`Published ${named.ok}; customers can download it now.`);
    this.renderPublished();
    this.sendList();
  }

  unpublish(id) {
    this.published.delete(id);
    this.renderPublished();
    this.sendList();
  }

  renderPublished() {
    $("published-list").replaceChildren(...[...this.published.values()].map((f) => h("li", { class: "file-row published", "data-id": String(f.id) },
      h("strong", {}, f.name), ` (${bytesText(f.size)}) `,
      h("button", { type: "button", class: "small secondary", onclick: () => this.unpublish(f.id) }, "Withdraw"))));
  }

  /** The whole published list, without the File objects. */
  list() {
    return [...this.published.values()].map(({ id, name, size, sha256 }) => ({ id, name, size, sha256 }));
  }

  /** Send the published list to every connected customer (or to `only`). */
  sendList(only) {
    const s = this.c.session();
    if (!s || !s.roster || !s.mesh) return;
    const files = this.list();
    for (const p of s.roster.participants) {
      if (p.id === s.you || !this.isCustomer(p.id) || (only !== undefined && p.id !== only)) continue;
      if (s.mesh.state(p.id) !== "open") continue;
      if (!this.peerSend(p.id, { type: "files_published", files })) {
        const pc = s.mesh.connection(p.id);
        if (pc) this.listed.add(pc);
      }
    }
  }

  /** A connection changed: a customer whose control channel just opened gets the list. */
  peerChanged(id) {
    const s = this.c.session();
    if (!s || !s.mesh || this.published.size === 0 || !this.isCustomer(id)) return;
    const pc = s.mesh.connection(id);
    if (pc && !this.listed.has(pc) && s.mesh.state(id) === "open") this.sendList(id);
  }

  /** A customer downloads published file `id`: offer it while publishing runs. */
  download(from, id) {
    const key = `${from}:${id}`;
    const t0 = this.transfers.get(key);
    if (t0 && t0.state !== "done") return; // asked again after a broken connection
    const f = this.published.get(id);
    let reason = null;
    if (!this.isRunning(BASIC)) reason = "file transfer is not active";
    else if (!this.isCustomer(from)) reason = "files are published for customers";
    else if (!f) reason = `no published file ${id}`;
    if (reason) { this.peerSend(from, { type: "refused", id, reason }); return; }
    const t = { id, peer: from, kind: "download", name: f.name, size: f.size, sha256: f.sha256, file: f.file, state: "offered", channel: null };
    this.transfers.set(key, t);
    this.row(t, `downloaded by ${this.c.nameOf(from)}`);
    const err = this.peerSend(from, { type: "file_offer", id, name: f.name, size: f.size, sha256: f.sha256 });
    if (err) this.finish(t, `not sent: ${err}`, "failed");
    else this.show(t, "starting…");
  }

  // ---- advanced: sending

  async send(file) {
    const p = this.c.primary();
    if (!p) throw new Error("There is no primary customer to send to.");
    const named = this.c.protocol.checkFileName(file.name);
    if (named.error) throw new Error(named.error);
    this.say(`Checking ${file.name}…`);
    const sha256 = await hashFile(this.c.protocol, file, (done) => this.say(`Checking ${file.name}… ${Math.floor((done * 100) / Math.max(file.size, 1))}%`));
    await this.ensureActivity(ADVANCED);
    const id = ++this.seq;
    const t = { id, peer: p.id, kind: "send", name: named.ok, size: file.size, sha256, file, state: "offered", channel: null };
    this.transfers.set(`${p.id}:${id}`, t);
    this.row(t, `to ${this.c.nameOf(p.id)}`);
    this.say("");
    const err = this.peerSend(p.id, { type: "file_offer", id, name: t.name, size: t.size, sha256 });
    if (err) { this.finish(t, `not sent: ${err}`, "failed"); return; }
    this.show(t, `waiting for ${this.c.nameOf(p.id)} to accept…`);
  }

  /** Offer (or ask for) transfer `t` again, after a refusal that came too early. */
  reoffer(t) {
    if (t.state !== "offered" && t.state !== "asked") return;
    const err = this.peerSend(t.peer, t.kind === "fetch"
      ? { type: "file_fetch", id: t.id, name: t.name }
      : { type: "file_offer", id: t.id, name: t.name, size: t.size, sha256: t.sha256 });
    if (err) this.finish(t, `not sent: ${err}`, "failed");
  }

  /** Send the bytes of `t` from `offset` on, on a new `file-ID` channel. */
  async stream(t, offset) {
    const s = this.c.session();
    const pc = s && s.mesh && s.mesh.connection(t.peer);
    if (!pc) { this.finish(t, "failed — no direct connection", "failed"); return; }
    if (offset > t.size) { this.finish(t, "failed — the customer asked for bytes past the end", "failed"); return; }
    try { t.channel?.close(); } catch { /* closed */ }
    t.state = "sending";
    const run = sendFile({
      pc, id: t.id, file: t.file, offset,
      onProgress: (done) => { this.progress(t, done); this.show(t, `sending… ${Math.floor((done * 100) / Math.max(t.size, 1))}%`); },
      live: () => t.state === "sending",
    });
    t.channel = run.channel;
    try {
      await run.done;
      if (t.state === "sending") {
        t.state = "sent";
        this.show(t, `sent 100%; waiting for ${this.c.nameOf(t.peer)}'s computer to check it…`);
      }
    } catch (e) {
      // A native receiver resumes over the next connection with a new `file_accept`.
      if (t.state === "sending") {
        t.state = "interrupted";
        this.show(t, `interrupted — ${e.message}; waiting for the connection to come back…`);
      }
    }
  }

  // ---- advanced: fetching

  async fetch(name) {
    const p = this.c.primary();
    if (!p) throw new Error("There is no primary customer to fetch from.");
    if (!name) throw new Error("Type the name of the file to fetch.");
    const named = this.c.protocol.checkFileName(name);
    if (named.error) throw new Error(named.error);
    await this.ensureActivity(ADVANCED);
    const id = ++this.seq;
    const t = { id, peer: p.id, kind: "fetch", name: named.ok, size: undefined, sha256: "", state: "asked", channel: null };
    this.transfers.set(`${p.id}:${id}`, t);
    this.row(t, `from ${this.c.nameOf(p.id)}`);
    $("fetch-name").value = "";
    this.say("");
    const err = this.peerSend(p.id, { type: "file_fetch", id, name: t.name });
    if (err) { this.finish(t, `not asked: ${err}`, "failed"); return; }
    this.show(t, `waiting for ${this.c.nameOf(p.id)} to approve…`);
  }

  /** The customer's offer answering our fetch: accept it and receive the bytes. */
  async fetched(t, msg) {
    t.state = "receiving";
    t.name = msg.name;
    t.size = msg.size;
    t.sha256 = msg.sha256;
    t.row.querySelector("strong").textContent = msg.name;
    t.row.querySelector("div").lastChild.textContent = ` (${bytesText(msg.size)})`;
    const s = this.c.session();
    const pc = s && s.mesh && s.mesh.connection(t.peer);
    if (!pc) { this.finish(t, "failed — no direct connection", "failed"); return; }
    const channel = incomingChannel(pc, t.id);
    const err = this.peerSend(t.peer, { type: "file_accept", id: t.id, offset: 0 });
    if (err) { this.finish(t, `failed — ${err}`, "failed"); return; }
    this.show(t, "receiving…");
    let result;
    try {
      t.channel = await channel;
      result = await receiveFile({
        protocol: this.c.protocol, channel: t.channel, size: t.size, sha256: t.sha256,
        onProgress: (done) => { this.progress(t, done); this.show(t, `receiving… ${Math.floor((done * 100) / Math.max(t.size, 1))}%`); },
        live: () => t.state === "receiving",
      });
    } catch (e) {
      if (t.state !== "receiving") return;
      this.peerSend(t.peer, { type: "refused", id: t.id, reason: `the transfer was given up: ${e.message}` });
      this.finish(t, `failed — ${e.message}`, "failed");
      return;
    }
    if (t.state !== "receiving") return;
    this.peerSend(t.peer, { type: "file_result", id: t.id, ok: result.ok });
    if (!result.ok) { this.finish(t, `failed — ${result.reason}`, "failed"); return; }
    t.sha256 = result.sha256;
    this.finish(t, "done — SHA-256 checked", "completed");
    t.extra.replaceChildren(" ", saveLink(result.blob, t.name, `Save ${t.name}`));
  }

  // ---- ending

  /** End file transfer: stop every transfer under way and this CSR's file activities. */
  end() {
    for (const activity of [BASIC, ADVANCED]) {
      if (this.isRunning(activity)) this.c.stopActivity?.(activity);
      this.stopped(activity, "the support representative ended file transfer");
    }
    this.say("File transfer ended.");
  }

  /** `activity` stopped: its transfers are cancelled; publishing withdraws the list. */
  stopped(activity, reason) {
    for (const t of this.transfers.values()) {
      if (t.state === "done" || (t.kind === "download") !== (activity === BASIC)) continue;
      this.peerSend(t.peer, { type: "refused", id: t.id, reason });
      this.finish(t, "cancelled — file transfer ended", "cancelled");
    }
    if (activity === BASIC && this.published.size) {
      this.published.clear();
      this.renderPublished();
      this.sendList();
    }
  }

  // ---- peer messages

  /** A peer message about a transfer of this panel: true when it was one. */
  onPeerMessage(from, msg) {
    if (msg.type === "file_download") { this.download(from, msg.id); return true; }
    if (msg.type === "file_fetch") {
      this.peerSend(from, { type: "refused", id: msg.id, reason: "a support representative's console does not serve files on request" });
      return true;
    }
    if (msg.type === "files_published") return true; // customers download from CSRs, not CSRs from CSRs
    if (!["file_offer", "file_accept", "file_result", "refused"].includes(msg.type)) return false;
    const t = this.transfers.get(`${from}:${msg.id}`);
    if (!t) {
      if (msg.type === "file_offer") this.peerSend(from, { type: "refused", id: msg.id, reason: "this file was not asked for" });
      return msg.type !== "refused"; // other refusals may answer the console's other requests
    }
    if (t.state === "done") return true; // answers again after a reconnection
    switch (msg.type) {
      case "file_offer":
        if (t.kind === "fetch" && t.state === "asked") this.fetched(t, msg);
        break;
      case "file_accept":
        if (t.kind !== "fetch" && ["offered", "interrupted", "sent"].includes(t.state)) this.stream(t, msg.offset || 0);
        break;
      case "refused":
        if (["offered", "asked"].includes(t.state) && t.kind !== "download" && /not active/.test(msg.reason) && (t.retries = (t.retries || 0) + 1) <= 5) {
          // The customer's endpoint had not yet seen the activity start: offer again shortly.
          setTimeout(() => this.reoffer(t), 500);
          break;
        }
        this.finish(t, `refused: ${this.c.sentence(msg.reason)}`, ["offered", "asked"].includes(t.state) ? "refused" : "failed");
        break;
      case "file_result":
        if (t.kind === "fetch") break;
        this.finish(t, msg.ok ? "done — the customer's computer checked the SHA-256" : "failed — the SHA-256 did not match", msg.ok ? "completed" : "failed");
        break;
    }
    return true;
  }
}
