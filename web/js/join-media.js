// The join page's voice and camera (join.html, protocol 9.3): a clear prompt when someone
// invites this customer to the voice call (`audio_invite`; joining is always the customer's own
// answer), Join/Leave audio and Mute, who else is in audio, Start/Stop my camera when the rules
// allow it (the `video` activity, pre-checked by the protocol module), and the others' camera
// tiles. The media itself is web/js/call.js.

import { Call } from "./call.js";

const $ = (id) => document.getElementById(id);
const START_VIDEO = { type: "start_activity", activity: "video" };
const STOP_VIDEO = { type: "stop_activity", activity: "video" };

export class JoinMedia {
  /**
   * @param {object} c what the page lends
   * @param {() => object} c.state the page's state (protocol, mesh, roster, me)
   * @param {(message:object) => boolean} c.send check and send a message to the service
   * @param {(id:number) => string} c.nameOf a participant's name
   * @param {(text:string) => void} c.showError show a problem (empty: hide it)
   */
  constructor(c) {
    this.c = c;
    this.call = this.newCall();
    this.inviter = null; // who asked this customer to join audio, while the prompt stands
    this.starting = false; // the camera is open and start_activity went out
    $("audio-accept").addEventListener("click", () => this.joinAudio());
    $("audio-decline").addEventListener("click", () => { this.inviter = null; this.render(); });
    $("audio-join").addEventListener("click", () => this.joinAudio());
    $("audio-leave").addEventListener("click", () => this.call.leaveAudio());
    $("audio-mute").addEventListener("click", () => this.call.setMuted(!this.call.muted));
    $("camera-start").addEventListener("click", () => this.startCamera());
    $("camera-stop").addEventListener("click", () => this.stopCamera());
  }

  newCall() {
    return new Call({ mesh: () => this.c.state().mesh, voices: $("voices"), onChange: () => this.render() });
  }

  /** `peer` invited this customer to the voice call. */
  invited(peer) {
    if (this.call.inAudio) return;
    this.inviter = peer;
    this.render();
  }

  async joinAudio() {
    this.inviter = null;
    this.c.showError("");
    const why = await this.call.joinAudio();
    if (why) this.c.showError(why);
    this.render();
  }

  myVideoRuns() {
    const s = this.c.state();
    return !!s.roster?.activities.some((a) => a.activity === "video" && a.actor === s.me);
  }

  /** Why this customer can't start the camera now (the protocol's own check), or null. */
  whyNoCamera() {
    const s = this.c.state();
    if (!s.roster) return "Not connected yet.";
    if (!navigator.mediaDevices?.getUserMedia) return "This browser can't use a camera.";
    const r = s.protocol.checkCommand({ roster: s.roster, me: s.me }, START_VIDEO);
    return r.error ? r.error : null;
  }

  async startCamera() {
    const why = this.whyNoCamera();
    if (why) { this.c.showError(why); return; }
    this.c.showError("");
    const failed = await this.call.openCamera();
    if (failed) { this.c.showError(failed); return; }
    this.starting = true;
    if (!this.c.send(START_VIDEO)) { this.starting = false; this.call.closeCamera(); }
    this.render();
  }

  stopCamera() {
    if (this.myVideoRuns()) this.c.send(STOP_VIDEO);
    this.starting = false;
    this.call.closeCamera();
  }

  /** The service refused a command: a camera start waiting for it ends. */
  refused(message) {
    if (message.request !== "start_activity" || !this.starting) return;
    if (!["no_customer_yet", "activity_already_running", "activity_not_allowed"].includes(message.code)) return;
    this.starting = false;
    this.call.closeCamera();
  }

  /** The session is over for this page. */
  close() {
    this.inviter = null;
    this.starting = false;
    this.call.close();
    this.call = this.newCall(); // ready for a session joined again from this page
    this.render();
  }

  /** After every roster, connection or new track. */
  render() {
    const s = this.c.state();
    const call = this.call;
    const running = this.myVideoRuns();
    if (running) this.starting = false;
    call.syncCamera(running);
    call.refresh();

    const inviting = this.inviter !== null && !call.inAudio && !call.closed;
    $("audio-invite").hidden = !inviting;
    if (inviting) {
      $("audio-invite-text").textContent = `${this.c.nameOf(this.inviter)} invites you to a voice call, so you can talk. Your microphone is used only if you join, and you can mute or leave at any time.`;
    }

    $("audio-join").hidden = call.inAudio;
    $("audio-join").disabled = call.joining;
    $("audio-join").textContent = call.joining ? "Joining…" : "Join audio";
    $("audio-leave").hidden = !call.inAudio;
    $("audio-mute").hidden = !call.inAudio;
    $("audio-mute").textContent = call.muted ? "Unmute" : "Mute";
    $("audio-mute").setAttribute("aria-pressed", String(call.muted));
    let text = "You are not in audio.";
    if (call.joining) text = "Joining audio…";
    else if (call.inAudio) text = call.muted ? "You are in audio — muted: nobody hears you." : "You are in audio: the others in audio hear you.";
    $("call-state").textContent = text;
    $("call-state").className = `av-me ${call.inAudio ? (call.muted ? "muted" : "live") : ""}`;

    const camOn = !!call.camera || running;
    const why = camOn ? null : this.whyNoCamera();
    $("camera-start").hidden = camOn;
    $("camera-start").disabled = !!why;
    $("camera-stop").hidden = !camOn;
    $("camera-hint").textContent = this.starting
      ? "Starting your camera…"
      : camOn ? "Your camera is on: everyone in the session sees you." : why || "Your camera is off.";

    this.renderPeople(s);
    this.renderCameras(s);
  }

  renderPeople(s) {
    const others = (s.roster?.participants ?? []).filter((p) => p.id !== s.me);
    const cameras = new Set((s.roster?.activities ?? []).filter((a) => a.activity === "video").map((a) => a.actor));
    $("call-people").replaceChildren(...others.map((p) => {
      const talking = this.call.hearing(p.id);
      const li = document.createElement("li");
      li.className = `av-person ${talking ? "talking" : ""}`;
      li.dataset.participant = String(p.id);
      li.dataset.audio = talking ? "in" : "out";
      const dot = document.createElement("span");
      dot.className = `av-dot ${talking ? "on" : ""}`;
      dot.setAttribute("aria-hidden", "true");
      const name = document.createElement("span");
      name.className = "av-name";
      name.textContent = p.name;
      const state = document.createElement("span");
      state.className = "av-state";
      state.textContent = (talking ? "in audio" : "not in audio") + (cameras.has(p.id) ? " · camera on" : "");
      li.append(dot, name, state);
      return li;
    }));
  }

  renderCameras(s) {
    const box = $("cameras");
    const wanted = [];
    for (const a of (s.roster?.activities ?? []).filter((x) => x.activity === "video")) {
      const mine = a.actor === s.me;
      const track = mine ? this.call.camera?.getVideoTracks()[0] : this.call.remote(a.actor, "camera");
      if (track) wanted.push({ id: a.actor, label: mine ? "You" : this.c.nameOf(a.actor), track, mine });
    }
    const keep = new Set();
    for (const w of wanted) {
      let fig = box.querySelector(`figure[data-participant="${w.id}"]`);
      const video = fig?.querySelector("video");
      if (!fig || video.srcObject?.getVideoTracks()[0] !== w.track) {
        fig?.remove();
        const v = document.createElement("video");
        v.autoplay = true;
        v.playsInline = true;
        v.muted = true;
        v.srcObject = new MediaStream([w.track]);
        v.setAttribute("aria-label", `${w.label}: camera`);
        fig = document.createElement("figure");
        fig.className = `camera ${w.mine ? "mine" : ""}`;
        fig.dataset.participant = String(w.id);
        fig.append(v, document.createElement("figcaption"));
        box.append(fig);
      }
      fig.querySelector("figcaption").textContent = w.label;
      keep.add(fig);
    }
    for (const old of [...box.children]) if (!keep.has(old)) old.remove();
    box.hidden = keep.size === 0;
  }
}
