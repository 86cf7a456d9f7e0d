// The console's file-transfer panel, advanced mode only (docs/protocol.md section 9.2, "File
// transfer"): the CSR picks a file to send to the primary customer. The panel starts the
// `file_transfer_advanced` activity when it is not running (asking the customer's consent
// first when needed), sends `file_offer` with the file's SHA-256, waits for the customer's
// `file_accept` (or `refused`), sends the bytes on a `file-ID` data channel in messages of
// FILE_CHUNK_BYTES with back-pressure on `bufferedAmount`, and shows the `file_result`.
// Every control message goes through the mesh, which encodes it with the protocol module.
// Files are read whole into memory, so they are limited to MAX_BYTES for now; a broken
// connection ends the transfer (no resume from the browser yet).

import { $, h } from "./console-dom.js";

/** One SCTP chunk, unfragmented: the protocol's FILE_CHUNK_BYTES. */
const CHUNK = 1152;
/** The sender waits while this much is outstanding on the channel (protocol 9.2). */
const HIGH_WATER = 4 * 1024 * 1024;
/** ... and goes on once the channel has drained to this. */
const LOW_WATER = 1024 * 1024;
/** Files read whole into memory: the largest the console sends for now. */
export const MAX_BYTES = 64 * 1024 * 1024;
/** Transfer ids start here, apart from the console's other request ids. */
const FIRST_ID = 1000001;
/** How long the panel waits for the activity to start (the customer may be asked first). */
const START_WAIT_MS = 180000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function bytesText(n) {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export class FilePanel {
  /**
   * @param {object} c what the console lends the panel
   * @param {object} c.protocol the functions of js/protocol.js
   * @param {() => object|null} c.session the console's current session
   * @param {() => object|null} c.policy { file_transfer, recording_allowed } or null
   * @param {() => object|null} c.primary the primary customer's roster entry
   * @param {(id:number) => string} c.nameOf a participant's name
   * @param {() => object[]} c.startable the protocol's startable activities now
   * @param {(pending:object) => void} c.askConsent ask a customer's consent, then start
   * @param {(activity:string) => boolean} c.startActivity start an activity
   * @param {(text:string) => string} c.sentence an error as a sentence
   */
  constructor(c) {
    this.c = c;
    this.seq = FIRST_ID - 1;
    this.transfers = new Map(); // id → { peer, name, bytes, sha256, state, channel, row }
    $("file-input").addEventListener("change", () => {
      const input = $("file-input");
      const file = input.files && input.files[0];
      input.value = "";
      if (file) this.send(file).catch((e) => this.say(`Could not send ${file.name}: ${e.message || e}`, true));
    });
  }

  /** Show the panel only in advanced mode. */
  render() {
    const s = this.c.session();
    const policy = this.c.policy();
    const advanced = !!(s && s.roster && policy && policy.file_transfer === "advanced");
    $("files").hidden = !advanced;
    if (!advanced) return;
    const p = this.c.primary();
    $("file-input").disabled = !p;
    $("file-hint").textContent = p
      ? `To ${p.name}; they approve each file. At most ${bytesText(MAX_BYTES)}.`
      : "There is no primary customer to send to.";
  }

  /** A line in the panel's status area; `error` styles it as a failure. */
  say(text, error = false) {
    const line = h("p", { class: error ? "form-error" : "muted" }, text);
    $("file-status").replaceChildren(line);
    return line;
  }

  running() {
    const s = this.c.session();
    return !!(s && s.roster && s.roster.activities.some((a) => a.actor === s.you && a.activity === "file_transfer_advanced"));
  }

  /** Start the activity unless it runs; resolves true once the roster shows it running. */
  async ensureActivity() {
    if (this.running()) return true;
    const a = this.c.startable().find((x) => x.activity === "file_transfer_advanced");
    if (!a) throw new Error("advanced file transfer is not available");
    if (a.allowed) {
      if (!this.c.startActivity("file_transfer_advanced")) throw new Error("the file transfer activity could not be started");
    } else if (a.code === "consent_required") {
      this.say(`Waiting for ${this.c.nameOf(a.participant)} to allow file transfer…`);
      this.c.askConsent({ activity: "file_transfer_advanced", capability: a.capability, customer: a.participant });
    } else {
      throw new Error(this.c.sentence(a.error));
    }
    const started = Date.now();
    while (!this.running()) {
      const s = this.c.session();
      if (!s || !s.live) throw new Error("the session is over");
      if (Date.now() - started > START_WAIT_MS) throw new Error("the file transfer activity did not start");
      // A consent that was declined ends the wait (the console's banner says so).
      if (a.code === "consent_required" && !s.pending && Date.now() - started > 500 && !this.running()) {
        const c = s.roster.consents.find((x) => x.customer === a.participant && x.capability === a.capability);
        if (c && (c.state === "denied" || c.state === "revoked")) throw new Error("the customer did not allow file transfer");
      }
      await sleep(100);
    }
    // The customer's endpoint learns of the activity from the same roster: give it a moment.
    await sleep(500);
    return true;
  }

  async send(file) {
    const p = this.c.primary();
    if (!p) { this.say("There is no primary customer to send to.", true); return; }
    if (file.size > MAX_BYTES) {
      this.say(`${file.name} is ${bytesText(file.size)}; the console sends files of at most ${bytesText(MAX_BYTES)} for now.`, true);
      return;
    }
    const named = this.c.protocol.checkFileName(file.name);
    if (named.error) { this.say(`${file.name}: ${this.c.sentence(named.error)}`, true); return; }
    this.say(`Reading ${file.name}…`);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const sha256 = hex(await crypto.subtle.digest("SHA-256", bytes));
    await this.ensureActivity();
    const s = this.c.session();
    if (!s || !s.mesh) throw new Error("no direct connection yet");
    const id = ++this.seq;
    const t = { id, peer: p.id, name: named.ok, size: bytes.length, bytes, sha256, state: "offered", channel: null };
    t.row = h("li", { class: "file-row", "data-id": String(id) });
    $("file-list").prepend(t.row);
    this.transfers.set(id, t);
    const err = s.mesh.send(p.id, { type: "file_offer", id, name: t.name, size: bytes.length, sha256 });
    if (err) { this.finish(t, `not sent: ${err}`, false); return; }
    this.say("");
    this.show(t, `waiting for ${this.c.nameOf(p.id)} to accept…`);
  }

  show(t, text, kind = "") {
    t.row.className = `file-row ${kind}`;
    t.row.replaceChildren(h("strong", {}, t.name), ` (${bytesText(t.size)}): `, h("span", { class: "file-state" }, text));
  }

  finish(t, text, ok) {
    t.state = "done";
    this.show(t, text, ok ? "ok" : "failed");
    try { t.channel?.close(); } catch { /* closed */ }
    t.channel = null;
    t.bytes = null;
  }

  /** A peer message about a transfer of this panel: true when it was one. */
  onPeerMessage(from, msg) {
    if (!["file_accept", "file_result", "refused"].includes(msg.type)) return false;
    const t = this.transfers.get(msg.id);
    if (!t || t.peer !== from) return false;
    if (t.state === "done") return true; // answers again after a reconnection
    switch (msg.type) {
      case "file_accept":
        if (t.state === "offered") this.stream(t, msg.offset || 0);
        break;
      case "refused":
        if (t.state === "offered" && /not active/.test(msg.reason) && (t.retries = (t.retries || 0) + 1) <= 5) {
          // The customer's endpoint had not yet seen the activity start: offer again shortly.
          setTimeout(() => this.reoffer(t), 500);
          break;
        }
        this.finish(t, `refused: ${this.c.sentence(msg.reason)}`, false);
        break;
      case "file_result":
        this.finish(t, msg.ok ? "done — the customer's computer checked the SHA-256" : "failed — the SHA-256 did not match", msg.ok);
        break;
    }
    return true;
  }

  /** Offer transfer `t` again (after a refusal that came too early). */
  reoffer(t) {
    const s = this.c.session();
    if (t.state !== "offered" || !s || !s.mesh) return;
    const err = s.mesh.send(t.peer, { type: "file_offer", id: t.id, name: t.name, size: t.size, sha256: t.sha256 });
    if (err) this.finish(t, `not sent: ${err}`, false);
  }

  /** Send the bytes from `offset` on, on a new `file-ID` channel. */
  async stream(t, offset) {
    const s = this.c.session();
    const pc = s && s.mesh && s.mesh.connection(t.peer);
    if (!pc) { this.finish(t, "failed — no direct connection", false); return; }
    const total = t.size;
    if (offset > total) { this.finish(t, "failed — the customer asked for bytes past the end", false); return; }
    t.state = "sending";
    const dc = pc.createDataChannel(`file-${t.id}`, { ordered: true });
    t.channel = dc;
    dc.binaryType = "arraybuffer";
    dc.bufferedAmountLowThreshold = LOW_WATER;
    await new Promise((resolve, reject) => {
      dc.onopen = resolve;
      dc.onclose = () => reject(new Error("the channel closed"));
      dc.onerror = () => reject(new Error("the channel failed"));
    }).catch((e) => { if (t.state === "sending") this.finish(t, `failed — ${e.message}`, false); });
    if (t.state !== "sending") return;
    let wake = null; // resolves the wait for the channel to drain
    dc.onclose = () => {
      if (t.state === "sending") this.finish(t, "failed — the connection was lost", false);
      wake?.();
    };
    let shown = 0;
    for (let at = offset; at < total; at += CHUNK) {
      if (dc.bufferedAmount > HIGH_WATER) {
        await new Promise((resolve) => { wake = resolve; dc.onbufferedamountlow = resolve; });
        dc.onbufferedamountlow = null;
        wake = null;
      }
      if (t.state !== "sending" || dc.readyState !== "open") return;
      dc.send(t.bytes.subarray(at, Math.min(at + CHUNK, total)));
      const now = Date.now();
      if (now - shown > 200) {
        shown = now;
        this.show(t, `sending… ${Math.floor((at * 100) / total)}%`);
      }
    }
    if (t.state === "sending") {
      t.state = "sent";
      this.show(t, `sent 100%; waiting for ${this.c.nameOf(t.peer)}'s computer to check it…`);
    }
  }
}
