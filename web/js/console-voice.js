// The console's voice and video (protocol 9.3, the `video` activity of 5.3, `audio_invite` of
// 9.2): the toolbar's Join/Leave audio, Mute and Start/Stop my video buttons, and the "Audio and
// video" card: this CSR's own state, each participant's (sending voice, invited, camera on) with
// an invitation to audio, an invitation received from another CSR, and the camera tiles. The
// media itself is web/js/call.js; rules are asked of the protocol module through the console.

import { $, h } from "./console-dom.js";
import { Call } from "./call.js";

const VIDEO = { type: "start_activity", activity: "video" };

export class VoicePanel {
  /**
   * @param {object} c what the console lends the panel
   * @param {() => object|null} c.session the console's current session
   * @param {(id:number) => string} c.nameOf a participant's name
   * @param {(command:object) => string|null} c.precheck the protocol's answer: null or why not
   * @param {(activity:string) => boolean} c.startActivity start an activity (says why not)
   * @param {(activity:string) => void} c.stopActivity stop one of mine
   * @param {(text:string) => void} c.banner show a message (empty: hide it)
   */
  constructor(c) {
    this.c = c;
    this.owner = null; // the session this call belongs to
    this.call = null;
    this.invited = new Set(); // participants this console asked to join audio
    this.invitedBy = null; // who asked this CSR, while the question stands
    this.videoStarting = false;
    $("audio-btn").addEventListener("click", () => this.toggleAudio());
    $("mute-btn").addEventListener("click", () => this.call?.setMuted(!this.call.muted));
    $("video-btn").addEventListener("click", () => this.toggleVideo());
  }

  /** The call of the current session (a new one for each session). */
  ensure() {
    const s = this.c.session();
    if (this.owner !== s) {
      this.call?.close();
      this.owner = s;
      this.invited = new Set();
      this.invitedBy = null;
      this.videoStarting = false;
      this.call = s ? new Call({ mesh: () => s.mesh, voices: $("voices"), onChange: () => this.render() }) : null;
    }
    return this.call;
  }

  /** The session ended or this console left it: stop the microphone and the camera. */
  teardown() {
    this.call?.close();
    this.call = null;
    this.owner = null;
  }

  myVideoRuns() {
    const s = this.c.session();
    return !!s?.roster?.activities.some((a) => a.activity === "video" && a.actor === s.you);
  }

  async toggleAudio() {
    const call = this.ensure();
    if (!call) return;
    this.c.banner("");
    if (call.inAudio) {
      call.leaveAudio();
      return;
    }
    this.invitedBy = null;
    const why = await call.joinAudio();
    if (why) { this.c.banner(why); return; }
    this.inviteAll();
  }

  /** Ask every connected participant not yet asked (and not already talking) to join audio. */
  inviteAll() {
    const s = this.c.session();
    if (!s?.mesh || !this.call?.inAudio) return;
    for (const id of s.mesh.openPeers()) {
      if (!this.invited.has(id) && !this.call.hearing(id)) this.invite(id);
    }
  }

  invite(id) {
    const s = this.c.session();
    const err = s?.mesh ? s.mesh.send(id, { type: "audio_invite" }) : "no direct connection yet";
    if (err) { this.c.banner(`Could not invite ${this.c.nameOf(id)} to audio: ${err}.`); return; }
    this.invited.add(id);
    this.render();
  }

  async toggleVideo() {
    const call = this.ensure();
    if (!call) return;
    this.c.banner("");
    if (call.camera || this.myVideoRuns()) {
      if (this.myVideoRuns()) this.c.stopActivity("video");
      this.videoStarting = false;
      call.closeCamera();
      return;
    }
    const why = this.c.precheck(VIDEO);
    if (why) { this.c.banner(why); return; }
    const failed = await call.openCamera();
    if (failed) { this.c.banner(failed); return; }
    this.videoStarting = true;
    if (!this.c.startActivity("video")) { this.videoStarting = false; call.closeCamera(); }
    this.render();
  }

  /** The service refused a command: a video start waiting for it ends. */
  refused(message) {
    if (message.request !== "start_activity" || !this.videoStarting) return;
    if (!["no_customer_yet", "activity_already_running", "activity_not_allowed"].includes(message.code)) return;
    this.videoStarting = false;
    this.call?.closeCamera();
  }

  /** A peer message for voice; true when it was one. */
  onPeerMessage(from, msg) {
    if (msg.type !== "audio_invite") return false;
    const call = this.ensure();
    if (call && !call.inAudio) {
      this.invitedBy = from;
      this.render();
    }
    return true;
  }

  /** After every roster, connection change or new track. */
  render() {
    const call = this.ensure();
    const s = this.c.session();
    if (!call || !s?.roster) return;
    const running = this.myVideoRuns();
    if (running) this.videoStarting = false;
    call.syncCamera(running);
    call.refresh();
    if (call.inAudio) this.inviteAll();

    const audio = $("audio-btn");
    audio.textContent = call.joining ? "Joining audio…" : call.inAudio ? "Leave audio" : "Join audio";
    audio.disabled = call.joining;
    audio.classList.toggle("on", call.inAudio);
    const mute = $("mute-btn");
    mute.hidden = !call.inAudio;
    mute.textContent = call.muted ? "Unmute" : "Mute";
    mute.setAttribute("aria-pressed", String(call.muted));
    mute.classList.toggle("warn", call.muted);

    const video = $("video-btn");
    const camOn = !!call.camera || running;
    const why = camOn ? null : this.c.precheck(VIDEO);
    video.textContent = this.videoStarting ? "Starting video…" : camOn ? "Stop my video" : "Start my video";
    video.classList.toggle("on", camOn);
    video.disabled = !!why;
    video.title = why || (camOn ? "Stop sending your camera" : "Send your camera to everyone");

    let me = "You are not in audio.";
    if (call.joining) me = "Joining audio…";
    else if (call.inAudio) me = call.muted ? "You are in audio — muted: nobody hears you." : "You are in audio: everyone in audio hears you.";
    $("av-me").textContent = `${me}${camOn ? " Your camera is on." : ""}`;
    $("av-me").className = `av-me ${call.inAudio ? (call.muted ? "muted" : "live") : ""}`;

    this.renderPrompt(call);
    this.renderPeople(call, s);
    this.renderCameras(call, s);
  }

  renderPrompt(call) {
    const box = $("av-invite");
    if (this.invitedBy === null || call.inAudio) { box.replaceChildren(); return; }
    const from = this.invitedBy;
    box.replaceChildren(h("div", { class: "av-prompt", role: "alert" },
      h("p", {}, `${this.c.nameOf(from)} invites you to the voice call.`),
      h("div", { class: "row" },
        h("button", { type: "button", class: "small primary", onclick: () => this.toggleAudio() }, "Join audio"),
        h("button", { type: "button", class: "small secondary", onclick: () => { this.invitedBy = null; this.render(); } }, "Not now"))));
  }

  renderPeople(call, s) {
    const others = s.roster.participants.filter((p) => p.id !== s.you);
    const cameras = new Set(s.roster.activities.filter((a) => a.activity === "video").map((a) => a.actor));
    if (!others.length) {
      $("av-people").replaceChildren(h("li", { class: "muted small" }, "Nobody else is here yet."));
      return;
    }
    $("av-people").replaceChildren(...others.map((p) => {
      const talking = call.hearing(p.id);
      const state = talking ? "in audio" : this.invited.has(p.id) ? "invited, not in audio yet" : "not in audio";
      const open = s.mesh ? s.mesh.state(p.id) === "open" : false;
      const ask = call.inAudio && !talking && open
        ? h("button", { type: "button", class: "small secondary", onclick: () => this.invite(p.id) }, this.invited.has(p.id) ? "Ask again" : "Invite to audio")
        : null;
      const li = h("li", { class: `av-person ${talking ? "talking" : ""}` },
        h("span", { class: `av-dot ${talking ? "on" : ""}`, "aria-hidden": "true" }),
        h("span", { class: "av-name" }, p.name),
        h("span", { class: "av-state" }, state, cameras.has(p.id) ? " · camera on" : ""),
        ask);
      li.dataset.participant = String(p.id);
      li.dataset.audio = talking ? "in" : "out";
      return li;
    }));
  }

  renderCameras(call, s) {
    const tiles = [];
    const running = s.roster.activities.filter((a) => a.activity === "video");
    for (const a of running) {
      const mine = a.actor === s.you;
      const track = mine ? call.camera?.getVideoTracks()[0] : call.remote(a.actor, "camera");
      if (!track) continue;
      tiles.push(this.tile(a.actor, mine ? "You" : this.c.nameOf(a.actor), track, mine));
    }
    if (call.camera && !running.some((a) => a.actor === s.you)) {
      tiles.push(this.tile(s.you, "You (starting…)", call.camera.getVideoTracks()[0], true));
    }
    const box = $("cameras");
    const keep = new Set(tiles);
    for (const old of [...box.children]) if (!keep.has(old)) old.remove();
    for (const t of tiles) if (t.parentNode !== box) box.append(t);
    box.hidden = tiles.length === 0;
  }

  /** A camera tile for `id` showing `track`; the same element while the track stays. */
  tile(id, label, track, mine) {
    const existing = $("cameras").querySelector(`figure[data-participant="${id}"]`);
    const video = existing?.querySelector("video");
    if (existing && video?.srcObject?.getVideoTracks()[0] === track) {
      existing.querySelector("figcaption").textContent = label;
      return existing;
    }
    const v = h("video", { autoplay: true, playsinline: true, muted: true, "aria-label": `${label}: camera` });
    v.muted = true;
    v.srcObject = new MediaStream([track]);
    const fig = h("figure", { class: `camera ${mine ? "mine" : ""}` }, v, h("figcaption", {}, label));
    fig.dataset.participant = String(id);
    existing?.remove();
    return fig;
  }
}
