// The console's view of the WebRTC mesh: a thin adapter over the pages' shared mesh module
// (web/js/mesh.js, docs/protocol.md section 9), adding what the console needs — a connection
// state per participant for the participants panel, the remote screen track for the <video>,
// and putting the CSR's own shared screen on the screen transceiver of every connection.

import { Mesh as SharedMesh } from "./mesh.js";

export class Mesh {
  /**
   * @param {object} o
   * @param {object} o.protocol the functions of js/protocol.js
   * @param {number} o.me this participant's id
   * @param {RTCIceServer[]} o.iceServers from GET /api/v1/ice
   * @param {(to:number, data:object) => void} o.signal sends a `signal` to the service
   * @param {(from:number, msg:object) => void} o.onMessage a decoded control-channel message
   * @param {(from:number, error:string) => void} o.onPeerError a refused message or a lost connection
   * @param {(id:number) => void} o.onChange a connection's state or tracks changed
   */
  constructor(o) {
    this.onChange = o.onChange;
    this.screenTrack = null;
    this.mesh = new SharedMesh({
      protocol: o.protocol,
      me: o.me,
      iceServers: o.iceServers,
      signal: o.signal,
      onOpen: (id) => { this.applyScreen(id); o.onChange(id); },
      onClose: (id) => o.onChange(id),
      onMessage: o.onMessage,
      onError: o.onPeerError,
      onTrack: (id) => o.onChange(id),
    });
  }

  /** Follow the roster (connect to the connected, close the departed). */
  update(roster) {
    this.mesh.update(roster.participants);
  }

  /** "open" when the control channel is up, else the connection's state, or "none". */
  state(id) {
    if (this.mesh.isOpen(id)) return "open";
    const pc = this.mesh.connection(id);
    return pc ? pc.connectionState : "none";
  }

  /** The screen track participant `id` sends us (transceiver 0), if the connection has one. */
  screenOf(id) {
    const pc = this.mesh.connection(id);
    const t = pc && pc.getTransceivers()[0];
    return (t && t.receiver.track) || null;
  }

  /** The RTCPeerConnection to participant `id` (for file channels), or null. */
  connection(id) {
    return this.mesh.connection(id);
  }

  handleSignal(from, data) {
    this.mesh.signal(from, data);
  }

  /** Send a peer message; null when it went out, else the reason in words. */
  send(id, message) {
    try {
      return this.mesh.send(id, message) ? null : "no direct connection yet";
    } catch (e) {
      return e.message;
    }
  }

  /** Put `track` (or nothing) on the screen transceiver of every connection. */
  async shareScreen(track) {
    this.screenTrack = track;
    for (const id of this.mesh.openPeers()) await this.applyScreen(id);
  }

  async applyScreen(id) {
    const pc = this.mesh.connection(id);
    const t = pc && pc.getTransceivers()[0];
    if (!t) return;
    try { await t.sender.replaceTrack(this.screenTrack); } catch { /* closed meanwhile */ }
  }

  /** Send `track` (or nothing) on the voice or camera slot of every connection (mesh.js). */
  setOutgoing(slot, track) {
    this.mesh.setOutgoing(slot, track);
  }

  /** The track participant `id` sends on `slot` ("voice", "camera"), or null. */
  remoteTrack(id, slot) {
    return this.mesh.remoteTrack(id, slot);
  }

  /** The ids whose control channel is open. */
  openPeers() {
    return this.mesh.openPeers();
  }

  closeAll() {
    this.mesh.close();
  }
}
