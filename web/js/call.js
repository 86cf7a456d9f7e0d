// Voice and camera for the browser pages (protocol section 9.3), shared by the console and the
// join page: the microphone goes on the voice transceiver of every connection while this
// participant is in audio and not muted, the camera on the camera transceiver while its `video`
// activity runs (replaceTrack, never a new offer), every other participant's voice plays in an
// <audio> element while this participant is in audio, and who is sending voice is read from the
// receivers' statistics. Commands to the service and peer messages stay with the pages.
//
//   const call = new Call({ mesh: () => theMesh, voices: element, onChange: () => render() });
//   await call.joinAudio();  call.setMuted(true);  call.leaveAudio();
//   await call.openCamera(); call.syncCamera(videoRunning);  call.closeCamera();
//   call.refresh();          // after every roster or new track: players for the open peers
//   call.hearing(peer);      // true while voice packets arrive from `peer`

import { slotIndex } from "./mesh.js";

/** How long after its last voice packet a participant still counts as sending voice. */
const HEARD_FOR_MS = 1500;
/** How often the receivers' statistics are read. */
const WATCH_MS = 500;

/** A getUserMedia failure in words a user can act on. */
export function deviceError(e, what) {
  if (e?.name === "NotAllowedError") return `The browser was not allowed to use your ${what}.`;
  if (e?.name === "NotFoundError") return `No ${what} was found on this computer.`;
  if (e?.name === "NotReadableError") return `Your ${what} is in use by another program or can't be opened.`;
  return `Your ${what} can't be used: ${e?.message || e}`;
}

export class Call {
  /**
   * @param {object} o
   * @param {() => object|null} o.mesh the current mesh: setOutgoing, remoteTrack, openPeers,
   *   connection (mesh.js, or the console's adapter)
   * @param {HTMLElement} o.voices where the <audio> players go (hidden)
   * @param {() => void} o.onChange something shown changed (audio, mute, camera, who speaks)
   */
  constructor({ mesh, voices, onChange }) {
    this.mesh = mesh;
    this.voices = voices;
    this.onChange = onChange;
    this.mic = null; // MediaStream while in audio
    this.joining = false;
    this.muted = false;
    this.camera = null; // MediaStream while the camera is open (starting or sending)
    this.cameraSending = false;
    this.players = new Map(); // peer id → <audio>
    this.packets = new Map(); // peer id → voice packets received so far
    this.lastHeard = new Map(); // peer id → when its packet count last grew
    this.watch = null;
    this.closed = false;
  }

  get inAudio() {
    return this.mic !== null;
  }

  /** Join audio: the microphone goes to everyone, everyone's voice plays. Null or why not. */
  async joinAudio() {
    if (this.mic || this.joining || this.closed) return null;
    if (!navigator.mediaDevices?.getUserMedia) return "This browser can't use a microphone.";
    this.joining = true;
    this.onChange();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
        video: false,
      });
    } catch (e) {
      return deviceError(e, "microphone");
    } finally {
      this.joining = false;
      this.onChange();
    }
    if (this.closed || this.mic) {
      for (const t of stream.getTracks()) t.stop();
      return null;
    }
    this.mic = stream;
    this.muted = false;
    this.applyVoice();
    this.refresh();
    this.onChange();
    return null;
  }

  /** Leave audio: nothing more is sent or played. */
  leaveAudio() {
    if (!this.mic) return;
    for (const t of this.mic.getTracks()) t.stop();
    this.mic = null;
    this.muted = false;
    this.applyVoice();
    this.refresh();
    this.onChange();
  }

  /** Mute (nothing is sent, protocol 9.3) or unmute. */
  setMuted(muted) {
    if (!this.mic) return;
    this.muted = muted;
    for (const t of this.mic.getAudioTracks()) t.enabled = !muted;
    this.applyVoice();
    this.onChange();
  }

  applyVoice() {
    const track = this.mic && !this.muted ? this.mic.getAudioTracks()[0] : null;
    this.mesh()?.setOutgoing("voice", track ?? null);
  }

  /** Open the camera (not sent until syncCamera(true)). Null or why not. */
  async openCamera() {
    if (this.camera || this.closed) return null;
    if (!navigator.mediaDevices?.getUserMedia) return "This browser can't use a camera.";
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15, max: 30 } },
        audio: false,
      });
    } catch (e) {
      return deviceError(e, "camera");
    }
    if (this.closed || this.camera) {
      for (const t of stream.getTracks()) t.stop();
      return null;
    }
    this.camera = stream;
    this.onChange();
    return null;
  }

  /** Stop the camera and take it off every connection. */
  closeCamera() {
    if (!this.camera) return;
    for (const t of this.camera.getTracks()) t.stop();
    this.camera = null;
    this.cameraSending = false;
    this.mesh()?.setOutgoing("camera", null);
    this.onChange();
  }

  /**
   * After every roster: send the open camera while our `video` activity runs; once it stopped
   * (by us, or the service), close the camera. True when this closed it.
   */
  syncCamera(running) {
    if (!this.camera) return false;
    if (running && !this.cameraSending) {
      this.cameraSending = true;
      this.mesh()?.setOutgoing("camera", this.camera.getVideoTracks()[0] ?? null);
      this.onChange();
    } else if (!running && this.cameraSending) {
      this.closeCamera();
      return true;
    }
    return false;
  }

  /** The track `peer` sends on `slot` ("voice", "camera"), or null. */
  remote(peer, slot) {
    return this.mesh()?.remoteTrack(peer, slot) ?? null;
  }

  /** Whether voice packets arrived from `peer` in the last moment. */
  hearing(peer) {
    const at = this.lastHeard.get(peer);
    return at !== undefined && performance.now() - at < HEARD_FOR_MS;
  }

  /** A player for every open peer's voice while in audio; none otherwise. Starts watching. */
  refresh() {
    if (this.closed) return;
    if (!this.watch) this.watch = setInterval(() => this.poll(), WATCH_MS);
    const peers = this.mesh()?.openPeers() ?? [];
    for (const [peer, audio] of this.players) {
      const track = this.remote(peer, "voice");
      if (!this.mic || !peers.includes(peer) || audio.srcObject?.getAudioTracks()[0] !== track) {
        audio.srcObject = null;
        audio.remove();
        this.players.delete(peer);
      }
    }
    if (!this.mic) return;
    for (const peer of peers) {
      const track = this.remote(peer, "voice");
      if (!track || this.players.has(peer)) continue;
      const audio = document.createElement("audio");
      audio.autoplay = true;
      audio.dataset.peer = String(peer);
      audio.srcObject = new MediaStream([track]);
      this.voices.append(audio);
      this.players.set(peer, audio);
      audio.play().catch(() => {}); // joining was a click: playing is allowed
    }
  }

  /** Read each open peer's voice receiver: who is sending voice now. */
  async poll() {
    const mesh = this.mesh();
    if (!mesh || this.closed) return;
    const before = new Set([...this.lastHeard.keys()].filter((p) => this.hearing(p)));
    for (const peer of mesh.openPeers()) {
      const receiver = mesh.connection(peer)?.getTransceivers()[slotIndex("voice")]?.receiver;
      if (!receiver) continue;
      let packets = 0;
      try {
        const stats = await receiver.getStats();
        stats.forEach((s) => {
          if (s.type === "inbound-rtp") packets += s.packetsReceived ?? 0;
        });
      } catch {
        continue; // closed meanwhile
      }
      if (packets > (this.packets.get(peer) ?? 0)) this.lastHeard.set(peer, performance.now());
      this.packets.set(peer, packets);
    }
    const now = new Set([...this.lastHeard.keys()].filter((p) => this.hearing(p)));
    if (now.size !== before.size || [...now].some((p) => !before.has(p))) this.onChange();
  }

  /** End everything (the session ended or this page left it). */
  close() {
    this.leaveAudio();
    this.closeCamera();
    this.closed = true;
    clearInterval(this.watch);
    this.watch = null;
    for (const audio of this.players.values()) audio.remove();
    this.players.clear();
  }
}
