// The console's recorder panel (docs/protocol.md section 3.9): the controlling CSR starts a
// recording (the `recording` activity, after the primary customer's `recording` consent, asked
// through the same protocol pre-checks as every other activity), pauses, resumes and stops it.
// The browser's MediaRecorder records the customer's screen the console shows (redrawn on a
// canvas at a steady rate) and the voices it hears into Matroska; the file is uploaded before
// the session ends and attached to the record. Shows the indicator (red dot, elapsed time,
// paused) and the recordings of a session's record with download links, in the live session
// and in the history.

import { api } from "./console-api.js";
import { $, h, time, bytes } from "./console-dom.js";
import { withDuration } from "./mkv-duration.js";

/** Matroska types to try, best first; the service accepts any Matroska (EBML) file. */
const TYPES_AV = ["video/x-matroska;codecs=avc1,opus", "video/x-matroska;codecs=vp8,opus"];
const TYPES_V = ["video/x-matroska;codecs=avc1", "video/x-matroska;codecs=vp8", "video/x-matroska"];
/** MediaRecorder hands over what it has every this many ms, so a crash loses little. */
const SLICE_MS = 1000;
/** Pictures a second in the recording, and its largest size (larger screens are scaled down). */
const FPS = 10;
const MAX_WIDTH = 1920, MAX_HEIGHT = 1080;

/** The first Matroska type this browser's MediaRecorder can write, or null. */
export function recordingType(withAudio) {
  if (typeof MediaRecorder === "undefined") return null;
  const types = withAudio ? [...TYPES_AV, ...TYPES_V] : TYPES_V;
  return types.find((t) => MediaRecorder.isTypeSupported(t)) || null;
}

/**
 * One audio track of `voices` for the recorder (Chromium's MediaRecorder writes one audio
 * track): the track itself when there is one, else a Web Audio mix (the first voice alone when
 * the page may not run audio). Voices that join later are not in the recording.
 */
function mixed(voices) {
  if (!voices.length) return null;
  if (voices.length === 1 || typeof AudioContext === "undefined") return { track: voices[0] };
  const context = new AudioContext();
  if (context.state !== "running") { context.close(); return { track: voices[0] }; }
  const out = context.createMediaStreamDestination();
  for (const v of voices) context.createMediaStreamSource(new MediaStream([v])).connect(out);
  return { track: out.stream.getAudioTracks()[0], context };
}

/** Stop what a finished recording holds: its canvas track and its audio mix. */
function release(r) {
  r.picture.stop();
  if (r.voice && r.voice.context) { r.voice.track.stop(); r.voice.context.close(); }
}

function clock(ms) {
  const s = Math.floor(ms / 1000);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${two(mm)}:${two(ss)}`;
}

/** The download address of recording `rid` of session `sid` (the sign-in cookie authorizes). */
export function recordingHref(sid, rid) {
  return `/api/v1/sessions/${encodeURIComponent(sid)}/recordings/${encodeURIComponent(rid)}`;
}

/** The `recording_attached` events of a session record, oldest first. */
function attachedIn(record) {
  return (record.events || []).filter((e) => e.event && e.event.type === "recording_attached")
    .map((e) => ({ ...e.event, at: e.at }));
}

function recordingItem(sid, r) {
  const length = typeof r.duration_ms === "number" ? clock(r.duration_ms) : "length unknown";
  return h("li", { class: "rec-item" },
    h("a", { href: recordingHref(sid, r.id), download: `recording-${r.id}.mkv` }, "Download recording"),
    h("span", { class: "muted small" }, ` ${length} · ${bytes(r.size)}${r.at ? ` · ${time(r.at)}` : ""}`));
}

/**
 * A cell of the history table: a button that loads the session's record and lists its
 * recordings with download links.
 */
export function historyRecordings(sid) {
  const cell = h("span", { class: "rec-history" });
  const button = h("button", { type: "button", class: "link small", onclick: async () => {
    button.disabled = true;
    try {
      const list = attachedIn(await api("GET", `/sessions/${encodeURIComponent(sid)}`));
      cell.replaceChildren(list.length
        ? h("ul", { class: "rec-list" }, list.map((r) => recordingItem(sid, r)))
        : h("span", { class: "muted small" }, "no recordings"));
    } catch (e) {
      button.disabled = false;
      cell.append(h("span", { class: "form-error small" }, e.message || String(e)));
    }
  } }, "Recordings");
  cell.append(button);
  return cell;
}

export class RecorderPanel {
  /**
   * @param {object} o
   * @param {() => object|null} o.session the console's live session (id, token, you, roster, mesh)
   * @param {() => object[]} o.startable the protocol's startable activities for me now
   * @param {() => object|null} o.primary the primary customer's roster entry
   * @param {(p: object) => void} o.askConsent ask the customer, then start the activity
   * @param {(activity: string) => boolean} o.startActivity
   * @param {(activity: string) => void} o.stopActivity
   * @param {(id: number) => string} o.nameOf
   * @param {(error: string) => string} o.sentence
   */
  constructor(o) {
    this.o = o;
    this.rec = null; // { mr, type, chunks, started, pausedAt, pausedMs, sid, token, stopped }
    this.saving = null; // Promise of the upload under way
    this.sid = null;
    this.attached = [];
    this.timer = null;
    this.note = null; // what the last save said
    $("screen").addEventListener("loadedmetadata", () => this.render());
    $("rec-btn").addEventListener("click", () => this.toggle());
    $("recorder-close").addEventListener("click", () => this.toggle(false));
    $("rec-start").addEventListener("click", () => this.start());
    $("rec-pause").addEventListener("click", () => this.pause(true));
    $("rec-resume").addEventListener("click", () => this.pause(false));
    $("rec-stop").addEventListener("click", () => this.stop());
  }

  toggle(open = $("recorder").hidden) {
    $("recorder").hidden = !open;
    $("rec-btn").setAttribute("aria-expanded", String(open));
    if (open) { this.render(); $("recorder-title").focus?.(); } else $("rec-btn").focus();
  }

  /** A new session in the console: forget the last one's list and load this one's record. */
  enter(sid) {
    if (this.sid === sid) return;
    this.sid = sid;
    this.attached = [];
    this.note = null;
    this.renderList();
    api("GET", `/sessions/${encodeURIComponent(sid)}`)
      .then((record) => { if (this.sid === sid) { this.attached = attachedIn(record); this.renderList(); } })
      .catch(() => { /* the list fills from recording_attached events */ });
  }

  /** Session events: a new attached recording joins the list. */
  onEvent(ev) {
    if (ev.type !== "recording_attached" || this.attached.some((r) => r.id === ev.id)) return;
    this.attached.push({ ...ev, at: Date.now() });
    this.renderList();
  }

  /** The screen track I receive from the customer now (the console's <video>), if any. */
  screenTrack() {
    const src = $("screen").srcObject;
    const s = this.o.session();
    if (!src || !s || src === s.sharing) return null;
    const track = src.getVideoTracks()[0];
    return track && track.readyState === "live" ? track : null;
  }

  /** The voices the console hears now: the live, unmuted voice track of every connection. */
  voiceTracks() {
    const s = this.o.session();
    if (!s || !s.mesh || !s.roster) return [];
    const tracks = [];
    for (const p of s.roster.participants) {
      const pc = p.id === s.you ? null : s.mesh.connection(p.id);
      const t = pc && pc.getTransceivers()[1];
      const track = t && t.receiver.track;
      if (track && track.kind === "audio" && track.readyState === "live" && !track.muted) tracks.push(track);
    }
    return tracks;
  }

  /** Whether my `recording` activity runs in the roster. */
  running() {
    const s = this.o.session();
    return !!(s && s.roster && s.roster.activities.some((a) => a.activity === "recording" && a.actor === s.you));
  }

  start() {
    $("rec-error").hidden = true;
    const s = this.o.session();
    if (!s || !s.roster) return;
    if (!this.screenTrack()) { this.error("View or control the customer's screen first: the recording holds what you see."); return; }
    if (!recordingType(false)) { this.error("This browser can't record in the Matroska format the service keeps."); return; }
    const a = this.o.startable().find((x) => x.activity === "recording");
    if (a && a.code === "consent_required") {
      const p = this.o.primary();
      if (p) this.o.askConsent({ activity: "recording", capability: "recording", customer: p.id });
    } else if (a && a.allowed) {
      this.o.startActivity("recording");
    } else {
      this.error(this.o.sentence(a ? a.error : "recording is not available"));
    }
  }

  /** Begin writing once the service has started my recording activity. */
  begin() {
    const s = this.o.session();
    const v = $("screen");
    if (!this.screenTrack() || !v.videoWidth) return; // started when the screen shows (render)
    const voices = this.voiceTracks();
    const type = recordingType(voices.length > 0);
    if (!type) { this.error("This browser can't record in the Matroska format the service keeps."); this.o.stopActivity("recording"); return; }
    // The screen goes through a canvas redrawn at a steady rate: a customer's screen that stands
    // still sends no pictures, and the recording must still run on (and show the gap when the
    // screen is no longer shown).
    const scale = Math.min(1, MAX_WIDTH / v.videoWidth, MAX_HEIGHT / v.videoHeight);
    const canvas = document.createElement("canvas");
    canvas.width = 2 * Math.round((v.videoWidth * scale) / 2);
    canvas.height = 2 * Math.round((v.videoHeight * scale) / 2);
    const g = canvas.getContext("2d", { alpha: false });
    const draw = () => {
      if (!v.hidden && v.readyState >= 2 && v.videoWidth) g.drawImage(v, 0, 0, canvas.width, canvas.height);
      else { g.fillStyle = "#000"; g.fillRect(0, 0, canvas.width, canvas.height); }
    };
    draw();
    const picture = canvas.captureStream(FPS).getVideoTracks()[0];
    const voice = type.includes("opus") ? mixed(voices) : null;
    const tracks = voice ? [picture, voice.track] : [picture];
    let mr;
    try {
      mr = new MediaRecorder(new MediaStream(tracks), { mimeType: type, videoBitsPerSecond: 2_500_000 });
    } catch (e) {
      picture.stop();
      this.error(`The browser refused to record: ${e.message || e}`);
      this.o.stopActivity("recording");
      return;
    }
    const rec = { mr, type, picture, voice, chunks: [], started: performance.now(), pausedAt: null, pausedMs: 0, sid: s.id, token: s.token, voices: voices.length };
    rec.drawing = setInterval(draw, 1000 / FPS);
    mr.ondataavailable = (e) => { if (e.data && e.data.size) rec.chunks.push(e.data); };
    mr.onerror = (e) => this.error(`Recording failed: ${e.error ? e.error.message : "unknown error"}`);
    mr.start(SLICE_MS);
    this.rec = rec;
    this.note = null;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), 500);
    $("recorder").hidden = false;
    $("rec-btn").setAttribute("aria-expanded", "true");
    this.render();
  }

  elapsed() {
    const r = this.rec;
    if (!r) return 0;
    const now = r.pausedAt ?? performance.now();
    return Math.max(0, now - r.started - r.pausedMs);
  }

  pause(paused) {
    const r = this.rec;
    if (!r || r.stopped) return;
    if (paused && r.mr.state === "recording") {
      r.mr.pause();
      r.pausedAt = performance.now();
    } else if (!paused && r.mr.state === "paused") {
      r.mr.resume();
      r.pausedMs += performance.now() - r.pausedAt;
      r.pausedAt = null;
    }
    this.render();
  }

  /** Stop recording (the Stop button): stop the activity and save the file. */
  stop() {
    if (this.running()) this.o.stopActivity("recording");
    this.finish();
  }

  /**
   * Finish the recording under way, if any, and upload it; resolves when it is saved (or
   * failed). The console calls it before ending the session, so the file is attached in time.
   */
  finish() {
    const r = this.rec;
    if (!r) return this.saving || Promise.resolve();
    this.rec = null;
    r.stopped = true;
    clearInterval(r.drawing);
    const duration = Math.round(r.pausedAt !== null ? r.pausedAt - r.started - r.pausedMs : performance.now() - r.started - r.pausedMs);
    clearInterval(this.timer);
    this.saving = new Promise((resolve) => {
      r.mr.onstop = () => resolve();
      try { r.mr.stop(); } catch { resolve(); }
    }).then(() => release(r)).then(() => this.upload(r, duration)).finally(() => { this.saving = null; this.render(); });
    this.render();
    return this.saving;
  }

  async upload(r, duration) {
    const raw = new Blob(r.chunks, { type: "video/x-matroska" });
    if (!raw.size) { this.error("The recording is empty: no picture arrived while it ran."); return; }
    const file = await withDuration(raw, duration).catch(() => raw);
    try {
      const response = await fetch(`/api/v1/sessions/${encodeURIComponent(r.sid)}/recordings?duration_ms=${duration}`, {
        method: "POST",
        headers: { "Content-Type": "video/x-matroska", Authorization: `Bearer ${r.token}` },
        body: file,
      });
      const answer = await response.json().catch(() => null);
      if (!response.ok) {
        this.error(`The recording could not be saved: ${this.o.sentence(answer && answer.message ? answer.message : `HTTP ${response.status}`)}`);
        return;
      }
      if (this.sid === r.sid && !this.attached.some((x) => x.id === answer.id)) {
        this.attached.push({ id: answer.id, size: answer.size, duration_ms: answer.duration_ms, at: answer.created_at });
        this.renderList();
      }
      this.note = `Saved to the session record (${clock(duration)}, ${bytes(answer.size)}).`;
    } catch (e) {
      this.error(`The recording could not be uploaded: ${e.message || e}`);
    }
  }

  error(text) {
    $("rec-error").textContent = text;
    $("rec-error").hidden = !text;
    if (text) { $("recorder").hidden = false; $("rec-btn").setAttribute("aria-expanded", "true"); }
  }

  tick() {
    this.renderIndicator();
  }

  /** After every roster: begin or finish writing as my activity starts or stops. */
  render() {
    const s = this.o.session();
    if (!s || !s.roster) return;
    const running = this.running();
    if (running && !this.rec && !this.saving && this.sid === s.id) this.begin();
    if (!running && this.rec) this.finish();
    const can = this.o.startable().find((x) => x.activity === "recording");
    const pending = s.pending && s.pending.activity === "recording";
    const r = this.rec;
    const startWhy = !can ? "Recording is not available."
      : can.allowed || can.code === "consent_required" ? (this.screenTrack() ? null : "View or control the customer's screen first: the recording holds what you see.")
        : this.o.sentence(can.error);
    $("rec-start").hidden = !!r || running;
    $("rec-start").disabled = !!startWhy || pending || !!this.saving;
    $("rec-pause").hidden = !r || r.mr.state !== "recording";
    $("rec-resume").hidden = !r || r.mr.state !== "paused";
    $("rec-stop").hidden = !r && !running;
    let hint;
    if (this.saving) hint = "Saving the recording to the session record…";
    else if (r) hint = `Recording ${r.voices ? `the screen and ${r.voices} voice${r.voices > 1 ? "s" : ""}` : "the screen"} (Matroska, ${/avc1/.test(r.type) ? "H.264" : /vp8/.test(r.type) ? "VP8" : "video"}${/opus/.test(r.type) ? " + Opus" : ""}, ${FPS} pictures a second). Stop saves it to the session record.`;
    else if (running) hint = "Waiting for the customer's screen to start recording…";
    else if (pending) hint = `Waiting for ${this.o.nameOf(s.pending.customer)} to allow the recording…`;
    else if (startWhy) hint = startWhy;
    else if (this.note) hint = this.note;
    else hint = can.code === "consent_required" ? "The customer is asked to allow the recording first." : "Records the customer's screen you see.";
    $("rec-hint").textContent = hint;
    this.renderIndicator();
  }

  renderIndicator() {
    const s = this.o.session();
    const r = this.rec;
    const on = !!(s && s.roster && s.roster.recording);
    const paused = !!(r && r.mr.state === "paused");
    const box = $("rec-indicator");
    box.classList.toggle("on", !!r && !paused);
    box.classList.toggle("paused", paused);
    $("rec-label").textContent = r ? (paused ? "Paused" : "Recording") : this.saving ? "Saving…" : on ? "Recording (another representative)" : "Not recording";
    $("rec-elapsed").textContent = r ? clock(this.elapsed()) : "";
    // The session head's pill shows the same for everyone who records here.
    const pill = $("rec-state");
    if (r) pill.textContent = paused ? `❚❚ Recording paused · ${clock(this.elapsed())}` : `● Recording · ${clock(this.elapsed())}`;
    else pill.textContent = "● Recording";
  }

  renderList() {
    const list = $("rec-list");
    list.replaceChildren(...(this.attached.length
      ? this.attached.map((r) => recordingItem(this.sid, r))
      : [h("li", { class: "muted small" }, "No recording attached yet.")]));
  }

  /** The session is gone from this console: stop writing (nothing can be uploaded any more). */
  teardown() {
    const r = this.rec;
    this.rec = null;
    clearInterval(this.timer);
    if (r) {
      r.stopped = true;
      clearInterval(r.drawing);
      try { r.mr.stop(); } catch { /* stopped */ }
      release(r);
    }
  }
}
