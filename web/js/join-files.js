// File transfer on the customer's join page (docs/protocol.md section 9.2, "File transfer" and
// "Basic mode"). Basic: the files support representatives publish (`files_published`) are
// listed, and the customer downloads the ones they choose (`file_download`; their choice is
// their consent, so the CSR's `file_offer` of that id is accepted without a prompt). Advanced:
// a CSR's `file_offer` (sending to this computer) or `file_fetch` (asking for a file from it) is
// shown with its name, size and direction, and the customer accepts or refuses it; a fetched
// file is picked with an <input type=file>. This page enforces the rules itself, whatever the
// service says: only a CSR whose `file_transfer_advanced` activity targets this customer, and
// only while this customer's own `file_transfer` consent is given; it checks again before
// sending bytes, and a revoked consent or a stopped activity stops every advanced transfer at
// once. Received files are offered for saving (Blob + <a download>) only after their SHA-256
// matched. Names are checked by the protocol module; rendering uses textContent only.

import { bytesText, hashFile, sendFile, incomingChannel, receiveFile, saveLink } from "./file-transfer.js";

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const percent = (done, size) => Math.floor((done * 100) / Math.max(size, 1));

export class JoinFiles {
  /**
   * @param {object} o
   * @param {() => object} o.state the page's state (protocol, me, roster, mesh)
   * @param {(id:number) => string} o.nameOf a participant's name
   * @param {(text:string) => void} o.showError the page's error line
   * @param {(text:string) => void} o.addNote a line about the session in the chat log
   */
  constructor(o) {
    this.o = o;
    this.published = new Map(); // CSR id → [{ id, name, size, sha256 }]
    this.transfers = new Map(); // "peer:id" → transfer
  }

  get s() {
    return this.o.state();
  }

  roleOf(id) {
    return this.s.roster?.participants.find((p) => p.id === id)?.role;
  }

  isCsr(id) {
    return ["controller", "csr"].includes(this.roleOf(id));
  }

  /** Why `csr` may not transfer files with this customer in advanced mode now, or null. */
  whyNot(csr) {
    const s = this.s;
    if (!this.isCsr(csr)) return "only a support representative can transfer files with you";
    const running = s.roster.activities.some((a) => a.actor === csr && a.activity === "file_transfer_advanced" && a.target === s.me);
    if (!running) return "file transfer is not active for this support representative";
    if (!this.hasConsent()) return "the customer has not allowed file transfer";
    return null;
  }

  /** Whether this customer's own `file_transfer` consent is given now. */
  hasConsent() {
    const s = this.s;
    return s.roster.consents.some((c) => c.customer === s.me && c.capability === "file_transfer" && c.state === "granted");
  }

  /** Whether `csr` runs basic file transfer (publishing). */
  publishing(csr) {
    return this.s.roster?.activities.some((a) => a.actor === csr && a.activity === "file_transfer_basic") ?? false;
  }

  send(peer, message) {
    try {
      return this.s.mesh?.send(peer, message) ?? false;
    } catch (e) {
      console.warn(`file message to ${peer}: ${e.message}`);
      return false;
    }
  }

  // ---- rendering

  /** After every roster: stop what is no longer allowed, then draw the card. */
  render() {
    const s = this.s;
    if (!s.roster) return;
    for (const t of this.transfers.values()) {
      if (t.state === "done") continue;
      const present = s.roster.participants.some((p) => p.id === t.peer);
      if (!present) { this.close(t, "the support representative left", "failed", false); continue; }
      if (t.kind === "download") continue; // basic: the CSR's endpoint checks its activity
      let why = this.whyNot(t.peer);
      // It was given when this transfer began: if it is gone, that is what stopped it.
      if (why && !this.hasConsent()) why = "the customer revoked consent to file transfer";
      if (why) this.close(t, why, t.state === "asking" ? "refused" : "stopped", true);
    }
    this.draw();
  }

  draw() {
    const lists = [...this.published.entries()].filter(([csr, files]) => files.length && this.publishing(csr) && this.isCsr(csr));
    $("published-files").replaceChildren(...lists.flatMap(([csr, files]) => files.map((f) => {
      const t = this.transfers.get(`${csr}:${f.id}`);
      const busy = t && t.state !== "done";
      const button = el("button", { type: "button", className: "primary", disabled: busy, textContent: busy ? "Downloading…" : "Download" });
      button.dataset.download = String(f.id);
      button.onclick = () => this.download(csr, f);
      const item = el("li", { className: "published-file" },
        el("span", { className: "file-name", textContent: f.name }),
        el("span", { className: "hint", textContent: ` ${bytesText(f.size)} · from ${this.o.nameOf(csr)}` }),
        button);
      item.dataset.file = f.name;
      return item;
    })));
    $("published-box").hidden = lists.length === 0;
    const asking = [...this.transfers.values()].filter((t) => t.state === "asking");
    $("file-prompts").replaceChildren(...asking.map((t) => t.prompt));
    const shown = [...this.transfers.values()].filter((t) => t.row && t.state !== "asking");
    $("file-transfers").replaceChildren(...shown.map((t) => t.row).reverse());
    $("files-card").hidden = lists.length === 0 && this.transfers.size === 0;
    $("files-card").classList.toggle("attention", asking.length > 0);
  }

  /** A row with a progress bar for transfer `t`. */
  row(t, text) {
    t.bar = el("progress", { max: Math.max(t.size, 1), value: 0 });
    t.status = el("span", { className: "file-state" });
    t.extra = el("span", { className: "file-extra" });
    t.row = el("li", { className: "file-row" },
      el("div", {}, el("strong", { textContent: t.name }), ` ${text} (${bytesText(t.size)})`), t.bar, t.status, t.extra);
    t.row.dataset.transfer = String(t.id);
  }

  show(t, text, kind = "") {
    if (!t.row) return;
    t.row.className = `file-row ${kind}`;
    t.status.textContent = text;
  }

  progress(t, done, verb) {
    if (t.bar) t.bar.value = t.size ? done : 1;
    this.show(t, `${verb}… ${percent(done, t.size)}%`);
  }

  /**
   * End transfer `t`: `outcome` words for the row; `tell` sends `refused` with `reason` to the
   * CSR (remembered, and sent again if it asks about this transfer again).
   */
  close(t, reason, outcome, tell) {
    if (t.state === "done") return;
    const was = t.state;
    t.state = "done";
    try { t.channel?.close(); } catch { /* closed */ }
    t.channel = null;
    t.file = null;
    if (tell) {
      t.closing = { type: "refused", id: t.id, reason };
      this.send(t.peer, t.closing);
    }
    if (was === "asking" && !t.row) this.row(t, t.kind === "fetch" ? "asked for" : "offered");
    this.show(t, `${outcome}: ${reason}`, "failed");
    this.draw();
  }

  // ---- messages from peers

  /** A file message from `peer`: true when it was one (handled here). */
  onPeerMessage(peer, msg) {
    switch (msg.type) {
      case "files_published":
        if (this.isCsr(peer)) {
          this.published.set(peer, msg.files);
          this.draw();
        }
        return true;
      case "file_offer": this.offered(peer, msg); return true;
      case "file_fetch": this.asked(peer, msg); return true;
      case "file_accept": this.accepted(peer, msg); return true;
      case "file_result": this.result(peer, msg); return true;
      case "file_download":
        this.send(peer, { type: "refused", id: msg.id, reason: "a customer does not publish files" });
        return true;
      case "refused": return this.refused(peer, msg);
      default: return false;
    }
  }

  /** A message about a transfer this page knows: ignored under way, answered again when closed. */
  known(peer, id) {
    const t = this.transfers.get(`${peer}:${id}`);
    if (!t) return null;
    if (t.state === "done" && t.closing) this.send(peer, t.closing);
    return t;
  }

  offered(peer, msg) {
    const t = this.transfers.get(`${peer}:${msg.id}`);
    if (t && t.kind === "download" && t.state === "requested") {
      // The file this customer chose to download: no prompt.
      Object.assign(t, { name: msg.name, size: msg.size, sha256: msg.sha256 });
      this.receive(t);
      return;
    }
    if (this.known(peer, msg.id)) return;
    const why = this.whyNot(peer);
    if (why) {
      this.send(peer, { type: "refused", id: msg.id, reason: why });
      return;
    }
    const n = { id: msg.id, peer, kind: "receive", name: msg.name, size: msg.size, sha256: msg.sha256, state: "asking" };
    const accept = el("button", { type: "button", className: "primary", textContent: "Accept" });
    const refuse = el("button", { type: "button", textContent: "Refuse" });
    accept.dataset.answer = "accept";
    refuse.dataset.answer = "refuse";
    accept.onclick = () => this.approveReceive(n);
    refuse.onclick = () => this.close(n, "the customer declined the transfer", "refused", true);
    n.prompt = el("li", { className: "file-prompt" },
      el("p", {}, `${this.o.nameOf(peer)} wants to send a file to your computer: `,
        el("strong", { textContent: msg.name }), ` (${bytesText(msg.size)}).`),
      el("div", { className: "actions" }, accept, refuse));
    n.prompt.dataset.transfer = String(msg.id);
    this.transfers.set(`${peer}:${msg.id}`, n);
    this.draw();
  }

  approveReceive(t) {
    if (t.state !== "asking") return;
    const why = this.whyNot(t.peer);
    if (why) { this.close(t, why, "refused", true); return; }
    this.row(t, `from ${this.o.nameOf(t.peer)} to your computer`);
    this.receive(t);
  }

  /** Accept offer `t` and receive its bytes; the save link only after the SHA-256 matched. */
  async receive(t) {
    const pc = this.s.mesh?.connection(t.peer);
    t.state = "receiving";
    this.draw();
    if (!pc) { this.close(t, "there is no direct connection to the support representative", "failed", false); return; }
    const channel = incomingChannel(pc, t.id);
    channel.catch(() => {}); // a failed accept below ends the transfer instead
    if (!this.send(t.peer, { type: "file_accept", id: t.id, offset: 0 })) {
      this.close(t, "the direct connection is not open", "failed", false);
      return;
    }
    this.show(t, "waiting for the first bytes…");
    let result;
    try {
      t.channel = await channel;
      result = await receiveFile({
        protocol: this.s.protocol, channel: t.channel, size: t.size, sha256: t.sha256,
        onProgress: (done) => this.progress(t, done, "receiving"),
        live: () => t.state === "receiving",
      });
    } catch (e) {
      this.close(t, `the transfer was given up: ${e.message}`, "failed", true);
      return;
    }
    if (t.state !== "receiving") return;
    t.state = "done";
    t.closing = { type: "file_result", id: t.id, ok: result.ok };
    this.send(t.peer, t.closing);
    if (!result.ok) {
      this.show(t, `failed: ${result.reason}; nothing was saved`, "failed");
      return;
    }
    t.bar.value = Math.max(t.size, 1);
    this.show(t, "received; SHA-256 checked", "ok");
    t.extra.replaceChildren(saveLink(result.blob, t.name, `Save ${t.name}`));
    this.o.addNote(`${t.name} arrived and is ready to save.`);
    this.draw();
  }

  /** Basic mode: the customer chose to download published file `f` of `csr`. */
  download(csr, f) {
    const key = `${csr}:${f.id}`;
    const old = this.transfers.get(key);
    if (old && old.state !== "done") return;
    const t = { id: f.id, peer: csr, kind: "download", name: f.name, size: f.size, sha256: f.sha256, state: "requested" };
    this.row(t, `from ${this.o.nameOf(csr)}`);
    this.transfers.set(key, t);
    if (!this.send(csr, { type: "file_download", id: f.id })) {
      this.close(t, "the direct connection to the support representative is not open yet", "failed", false);
      return;
    }
    this.show(t, "asking…");
    this.draw();
  }

  /** A CSR asks for a file from this computer: a prompt with a file picker. */
  asked(peer, msg) {
    if (this.known(peer, msg.id)) return;
    const why = this.whyNot(peer);
    if (why) {
      this.send(peer, { type: "refused", id: msg.id, reason: why });
      return;
    }
    const n = { id: msg.id, peer, kind: "fetch", name: msg.name, size: 0, sha256: "", state: "asking" };
    const input = el("input", { type: "file", id: `fetch-pick-${peer}-${msg.id}` });
    input.dataset.fetch = String(msg.id);
    const label = el("label", { htmlFor: input.id, textContent: "Choose the file to send: " });
    const refuse = el("button", { type: "button", textContent: "Refuse" });
    refuse.dataset.answer = "refuse";
    refuse.onclick = () => this.close(n, "the customer declined the transfer", "refused", true);
    input.onchange = () => {
      const file = input.files && input.files[0];
      if (file) this.approveSend(n, file).catch((e) => this.close(n, `the file could not be read: ${e.message}`, "failed", true));
    };
    n.prompt = el("li", { className: "file-prompt" },
      el("p", {}, `${this.o.nameOf(peer)} asks for a file from your computer: `,
        el("strong", { textContent: msg.name }), ". Choose it to send it, or refuse."),
      el("div", { className: "actions" }, label, input, refuse));
    n.prompt.dataset.transfer = String(msg.id);
    this.transfers.set(`${peer}:${msg.id}`, n);
    this.draw();
  }

  /** The customer picked `file` for fetch `t`: check, hash, offer it (same id). */
  async approveSend(t, file) {
    if (t.state !== "asking") return;
    const named = this.s.protocol.checkFileName(file.name);
    if (named.error) {
      this.o.showError(`${file.name} can't be sent: ${named.error}`);
      return;
    }
    const why = this.whyNot(t.peer);
    if (why) { this.close(t, why, "refused", true); return; }
    Object.assign(t, { name: named.ok, size: file.size, file, state: "hashing" });
    this.row(t, `from your computer to ${this.o.nameOf(t.peer)}`);
    this.draw();
    const sha256 = await hashFile(this.s.protocol, file, (done) => this.progress(t, done, "checking"), () => t.state !== "hashing");
    if (t.state !== "hashing") return;
    t.sha256 = sha256;
    t.state = "offered";
    if (!this.send(t.peer, { type: "file_offer", id: t.id, name: t.name, size: t.size, sha256 })) {
      this.close(t, "the direct connection is not open", "failed", false);
      return;
    }
    if (t.bar) t.bar.value = 0;
    this.show(t, "waiting for the support representative's computer…");
  }

  /** The CSR is ready for our file: check again (rules and consent), then send. */
  async accepted(peer, msg) {
    const t = this.transfers.get(`${peer}:${msg.id}`);
    if (!t || t.kind !== "fetch" || !["offered", "sending"].includes(t.state)) {
      if (!t) this.send(peer, { type: "refused", id: msg.id, reason: "there is no such transfer" });
      else this.known(peer, msg.id);
      return;
    }
    const why = this.whyNot(peer);
    if (why) { this.close(t, why, "stopped", true); return; }
    const offset = msg.offset || 0;
    if (offset > t.size) { this.close(t, `offset ${offset} is past the end of the file`, "failed", true); return; }
    const pc = this.s.mesh?.connection(peer);
    if (!pc) { this.close(t, "there is no direct connection", "failed", false); return; }
    try { t.channel?.close(); } catch { /* closed */ }
    t.state = "sending";
    const run = sendFile({
      pc, id: t.id, file: t.file, offset,
      onProgress: (done) => this.progress(t, done, "sending"),
      live: () => t.state === "sending" && !this.whyNot(peer),
    });
    t.channel = run.channel;
    try {
      await run.done;
      if (t.state === "sending") this.show(t, "sent; waiting for the support representative's computer to check it…");
    } catch (e) {
      if (t.state === "sending") this.close(t, `the transfer was given up: ${e.message}`, "failed", true);
    }
  }

  result(peer, msg) {
    const t = this.transfers.get(`${peer}:${msg.id}`);
    if (!t || t.kind !== "fetch" || t.state === "done") return;
    t.state = "done";
    try { t.channel?.close(); } catch { /* closed */ }
    t.file = null;
    if (msg.ok) {
      if (t.bar) t.bar.value = Math.max(t.size, 1);
      this.show(t, "sent; the support representative's computer checked the SHA-256", "ok");
    } else {
      this.show(t, "failed: the SHA-256 did not match on the other side", "failed");
    }
    this.draw();
  }

  /** A CSR refused or stopped one of our transfers (or cancelled its own request). */
  refused(peer, msg) {
    const t = this.transfers.get(`${peer}:${msg.id}`);
    if (!t) return false;
    if (t.state !== "done") {
      const outcome = ["asking", "requested"].includes(t.state) ? "cancelled" : "stopped";
      this.close(t, msg.reason, outcome, false);
    }
    return true;
  }

  /** The page leaves the session: every transfer ends. */
  closeAll() {
    for (const t of this.transfers.values()) {
      if (t.state !== "done") this.close(t, "the session ended", "stopped", false);
    }
  }
}
