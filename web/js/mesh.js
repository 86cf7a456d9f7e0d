// The tether WebRTC mesh for the browser pages (protocol section 9): one RTCPeerConnection to
// every other connected participant, the lower participant id offers, candidates trickle
// through the service's `signal` messages, and the offerer creates the reliable ordered control
// channel `tether`. Every connection carries three sendrecv transceivers in this order: screen
// (video), voice (audio), camera (video), with H.264 42e01f packetization-mode=1 preferred.
// Control-channel messages are encoded and decoded by the protocol module (protocol.js), never
// here. An ES module: no bundler, no npm.
//
//   import { Mesh } from "/js/mesh.js";
//   const mesh = new Mesh({
//     protocol,                      // from loadProtocol()
//     me,                            // this participant's id (welcome.you)
//     iceServers,                    // GET /api/v1/ice → ice_servers
//     signal: (to, data) => ...,     // send {type:"signal", to, data} to the service
//     onOpen: (peer) => ...,         // the control channel to `peer` opened
//     onClose: (peer) => ...,        // ... closed (peer left, or the connection failed)
//     onMessage: (peer, message) => ...,  // a decoded control-channel message
//     onError: (peer, text) => ...,  // a refused message or a failed connection, in words
//     onTrack: (peer, slot, track) => ...,  // slot: "screen" | "voice" | "camera"
//   });
//   mesh.setOutgoing("voice", track);   // send `track` (or null: nothing) on every connection
//   mesh.remoteTrack(peer, "camera");   // what `peer` sends on a slot (a track, or null)
//   mesh.update(roster.participants);   // after every roster
//   mesh.signal(from, data);            // every relayed `signal`
//   mesh.send(peer, { type: "chat", ... });  // true when it went out
//   mesh.close();

/** The transceivers of every connection, in order (protocol 9.3). */
export const SLOTS = [
  { name: "screen", kind: "video" },
  { name: "voice", kind: "audio" },
  { name: "camera", kind: "video" },
];

/** The index of the slot named `name` among the transceivers. */
export function slotIndex(name) {
  return SLOTS.findIndex((s) => s.name === name);
}

/** The camera's track id as the description names it (protocol 9.3: it ends in `camera-track`). */
export const CAMERA_TRACK_ID = "tether-camera-track";

/**
 * The description as sent to the other side: the camera section's track id (its `a=msid` and
 * `a=ssrc … msid:` lines) renamed to CAMERA_TRACK_ID, so a native peer tells the camera from
 * the screen. A browser can't choose a transceiver's track id; the local description keeps
 * its own, and only the copy sent is renamed.
 */
export function nameCameraTrack(sdp) {
  const sections = sdp.split(/(?=^m=)/m);
  const camera = slotIndex("camera") + 1; // sections[0] is the session part
  if (sections.length <= camera || !sections[camera].startsWith("m=video")) return sdp;
  sections[camera] = sections[camera]
    .replace(/^(a=msid:\S+) \S+$/gm, `$1 ${CAMERA_TRACK_ID}`)
    .replace(/^(a=ssrc:\d+ msid:\S+) \S+$/gm, `$1 ${CAMERA_TRACK_ID}`);
  return sections.join("");
}

/** The control channel's label. */
export const CONTROL_CHANNEL = "tether";

/** H.264 Constrained Baseline, non-interleaved, then RTX; or null when the browser lacks it. */
function videoPreferences() {
  const caps = window.RTCRtpReceiver?.getCapabilities?.("video");
  if (!caps) return null;
  const h264 = caps.codecs.filter(
    (c) =>
      c.mimeType.toLowerCase() === "video/h264" &&
      /profile-level-id=42e01f/i.test(c.sdpFmtpLine || "") &&
      /packetization-mode=1/.test(c.sdpFmtpLine || ""),
  );
  if (h264.length === 0) return null;
  const rtx = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/rtx");
  return [...h264, ...rtx];
}

function preferH264(transceiver) {
  const prefs = videoPreferences();
  if (!prefs || !transceiver.setCodecPreferences) return;
  try {
    transceiver.setCodecPreferences(prefs);
  } catch {
    // Keep the browser's defaults rather than fail the connection.
  }
}

class Peer {
  constructor(mesh, id) {
    this.mesh = mesh;
    this.id = id;
    this.offerer = mesh.me < id;
    this.pending = []; // candidates that arrived before the remote description
    this.channel = null;
    this.open = false;
    this.closed = false;
    const pc = new RTCPeerConnection({ iceServers: mesh.iceServers });
    this.pc = pc;
    pc.onicecandidate = (e) => {
      if (this.closed) return;
      if (!e.candidate) {
        mesh.sendSignal(id, { kind: "end_of_candidates" });
      } else if (e.candidate.candidate) {
        const data = { kind: "candidate", candidate: e.candidate.candidate };
        if (e.candidate.sdpMid != null) data.sdp_mid = e.candidate.sdpMid;
        if (e.candidate.sdpMLineIndex != null) data.sdp_m_line_index = e.candidate.sdpMLineIndex;
        mesh.sendSignal(id, data);
      }
    };
    pc.ondatachannel = (e) => {
      if (e.channel.label === CONTROL_CHANNEL) this.attach(e.channel);
    };
    pc.ontrack = (e) => {
      const index = pc.getTransceivers().indexOf(e.transceiver);
      const slot = SLOTS[index]?.name ?? `track ${index}`;
      mesh.events.onTrack?.(id, slot, e.track);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed" && !this.closed) this.mesh.lost(this);
    };
  }

  /** Offerer: transceivers, control channel, offer. */
  async offer() {
    for (const slot of SLOTS) {
      const t = this.pc.addTransceiver(slot.kind, { direction: "sendrecv" });
      if (slot.kind === "video") preferH264(t);
    }
    this.applyOutgoing();
    this.attach(this.pc.createDataChannel(CONTROL_CHANNEL, { ordered: true }));
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.mesh.sendSignal(this.id, { kind: "offer", sdp: nameCameraTrack(this.pc.localDescription.sdp) });
  }

  /** Answerer: the offer's transceivers become sendrecv, then answer. */
  async answer(sdp) {
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    for (const t of this.pc.getTransceivers()) {
      t.direction = "sendrecv";
      if (t.receiver.track?.kind === "video") preferH264(t);
    }
    this.applyOutgoing();
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.mesh.sendSignal(this.id, { kind: "answer", sdp: nameCameraTrack(this.pc.localDescription.sdp) });
    await this.flush();
  }

  async answered(sdp) {
    await this.pc.setRemoteDescription({ type: "answer", sdp });
    await this.flush();
  }

  async candidate(data) {
    const init = { candidate: data.candidate, sdpMid: data.sdp_mid, sdpMLineIndex: data.sdp_m_line_index };
    if (init.sdpMid == null && init.sdpMLineIndex == null) init.sdpMLineIndex = 0;
    if (!this.pc.remoteDescription) this.pending.push(init);
    else await this.pc.addIceCandidate(init);
  }

  async flush() {
    const held = this.pending.splice(0);
    for (const init of held) await this.pc.addIceCandidate(init);
  }

  /** Put the mesh's outgoing tracks (voice, camera) on this connection's senders. */
  applyOutgoing() {
    for (const [slot, track] of this.mesh.outgoing) this.sendOn(slot, track);
  }

  /** Send `track` (or nothing) on the transceiver of `slot`; no renegotiation (replaceTrack). */
  sendOn(slot, track) {
    const sender = this.pc.getTransceivers()[slotIndex(slot)]?.sender;
    if (!sender || sender.track === track || this.closed) return;
    sender.replaceTrack(track).catch((e) => {
      if (!this.closed) this.mesh.events.onError?.(this.id, `${slot} to participant ${this.id}: ${e.message || e}`);
    });
  }

  attach(channel) {
    this.channel = channel;
    channel.onopen = () => {
      this.open = true;
      this.mesh.events.onOpen?.(this.id);
    };
    channel.onclose = () => {
      const was = this.open;
      this.open = false;
      if (was && !this.closed) this.mesh.events.onClose?.(this.id);
    };
    channel.onmessage = (e) => {
      if (typeof e.data !== "string") {
        this.mesh.events.onError?.(this.id, "a binary message on the control channel was ignored");
        return;
      }
      const answer = this.mesh.protocol.decodePeer(this.mesh.me, e.data);
      if ("ok" in answer) this.mesh.events.onMessage?.(this.id, answer.ok);
      else this.mesh.events.onError?.(this.id, answer.error);
    };
    if (channel.readyState === "open") channel.onopen();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    const was = this.open;
    this.open = false;
    try {
      this.channel?.close();
      this.pc.close();
    } catch {
      // Already gone.
    }
    if (was) this.mesh.events.onClose?.(this.id);
  }
}

export class Mesh {
  /** See the example at the top of this file for the options. */
  constructor({ protocol, me, iceServers = [], signal, ...events }) {
    this.protocol = protocol;
    this.me = me;
    this.iceServers = iceServers;
    this.signalOut = signal;
    this.events = events;
    this.peers = new Map();
    this.connected = new Set(); // ids the last roster showed present and connected
    this.outgoing = new Map(); // slot name → the track sent on it to everyone (voice, camera)
  }

  sendSignal(to, data) {
    this.signalOut(to, data);
  }

  /**
   * The roster's participants: connect to every other connected one (when this side offers),
   * close connections to those that left or disconnected.
   */
  update(participants) {
    this.connected = new Set(participants.filter((p) => p.connected && p.id !== this.me).map((p) => p.id));
    for (const [id, peer] of this.peers) {
      if (!this.connected.has(id)) {
        peer.close();
        this.peers.delete(id);
      }
    }
    for (const id of this.connected) {
      if (id > this.me && !this.peers.has(id)) this.start(id);
    }
  }

  start(id) {
    const peer = new Peer(this, id);
    this.peers.set(id, peer);
    peer.offer().catch((e) => this.fail(peer, e));
    return peer;
  }

  fail(peer, error) {
    this.events.onError?.(peer.id, `connection to participant ${peer.id}: ${error.message || error}`);
  }

  /** A connection failed: the offerer starts over, the answerer asks it to (`restart`). */
  lost(peer) {
    this.events.onError?.(peer.id, `the connection to participant ${peer.id} was lost; reconnecting`);
    peer.close();
    this.peers.delete(peer.id);
    if (!this.connected.has(peer.id)) return;
    if (peer.offerer) this.start(peer.id);
    else this.sendSignal(peer.id, { kind: "restart" });
  }

  /** A `signal` relayed by the service from participant `from`. */
  signal(from, data) {
    let peer = this.peers.get(from);
    const run = (p, work) => work.catch((e) => this.fail(p, e));
    switch (data.kind) {
      case "offer":
        if (from > this.me) return; // this side offers to higher ids: never glare
        if (peer) peer.close(); // an offer always starts a new connection
        peer = new Peer(this, from);
        this.peers.set(from, peer);
        run(peer, peer.answer(data.sdp));
        break;
      case "answer":
        if (peer?.offerer) run(peer, peer.answered(data.sdp));
        break;
      case "candidate":
        if (peer) run(peer, peer.candidate(data));
        break;
      case "restart":
        if (from > this.me && this.connected.has(from)) {
          peer?.close();
          this.peers.delete(from);
          this.start(from);
        }
        break;
      default: // end_of_candidates: nothing to do
    }
  }

  /** Whether the control channel to `peer` is open. */
  isOpen(peer) {
    return this.peers.get(peer)?.open === true;
  }

  /** The ids whose control channel is open. */
  openPeers() {
    return [...this.peers.values()].filter((p) => p.open).map((p) => p.id);
  }

  /**
   * Encode `message` with the protocol module and send it on `peer`'s control channel. False
   * when that channel is not open; throws the protocol's error for a message it refuses.
   */
  send(peer, message) {
    const encoded = this.protocol.encodePeer(message);
    if (!("ok" in encoded)) throw new Error(encoded.error);
    const p = this.peers.get(peer);
    if (!p?.open) return false;
    p.channel.send(encoded.ok);
    return true;
  }

  /** The RTCPeerConnection to `peer`, for media (transceivers in SLOTS order). */
  connection(peer) {
    return this.peers.get(peer)?.pc ?? null;
  }

  /**
   * Send `track` on the transceiver of `slot` ("voice" or "camera") of every connection, now
   * and on every connection made later; null sends nothing there.
   */
  setOutgoing(slot, track) {
    if (track) this.outgoing.set(slot, track);
    else this.outgoing.delete(slot);
    for (const peer of this.peers.values()) peer.sendOn(slot, track ?? null);
  }

  /** The track `peer` sends on `slot` (its transceiver's receiver), or null. */
  remoteTrack(peer, slot) {
    const pc = this.peers.get(peer)?.pc;
    return pc?.getTransceivers()[slotIndex(slot)]?.receiver.track ?? null;
  }

  /** Close every connection. */
  close() {
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    this.connected.clear();
  }
}
