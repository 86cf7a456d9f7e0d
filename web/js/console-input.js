// Remote control from the console: pointer, buttons, wheel and keys on the customer's screen
// (the <video>) become the protocol's input events, sent to the primary customer's endpoint
// only while this CSR runs a control activity. The customer's endpoint checks again.

const BUTTONS = ["left", "middle", "right", "back", "forward"];

/** Where the pointer is on the shared picture, 0 to 1 each way: the picture is letterboxed
 * inside the element (`object-fit: contain`) when their shapes differ. */
function pos(video, e) {
  const r = video.getBoundingClientRect();
  let { left, top, width, height } = r;
  if (video.videoWidth > 0 && video.videoHeight > 0) {
    const scale = Math.min(r.width / video.videoWidth, r.height / video.videoHeight);
    width = video.videoWidth * scale;
    height = video.videoHeight * scale;
    left += (r.width - width) / 2;
    top += (r.height - height) / 2;
  }
  const clamp = (x) => Math.min(1, Math.max(0, x));
  return { x: clamp((e.clientX - left) / width), y: clamp((e.clientY - top) / height) };
}

/** Wheel notches from a wheel event: about 100 pixels or 3 lines each, at most 20. */
function notches(delta, mode) {
  const per = mode === 1 ? 3 : mode === 2 ? 1 : 100;
  const n = Math.round(delta / per) || Math.sign(delta);
  return Math.max(-20, Math.min(20, n));
}

/**
 * Capture input on `video` (it has the class `controlling` while control runs). `session()`
 * is the live session or null; `validate(event)` is the protocol's input check.
 */
export function captureInput(video, { session, validate }) {
  const controlling = () => video.classList.contains("controlling");
  const send = (event) => {
    const s = session();
    if (!s || !s.mesh || !s.roster) return;
    const target = s.roster.primary;
    const running = s.roster.activities.some((a) => a.actor === s.you && (a.activity === "control_desktop" || a.activity === "control_application"));
    if (!target || !running) return;
    const v = validate(event);
    if (v.error) return;
    s.mesh.send(target, { type: "input", event: v.ok });
  };
  video.addEventListener("pointermove", (e) => send({ type: "pointer_move", ...pos(video, e) }));
  video.addEventListener("pointerdown", (e) => {
    video.focus({ preventScroll: true });
    send({ type: "button_down", button: BUTTONS[e.button] || "left", ...pos(video, e) });
  });
  video.addEventListener("pointerup", (e) => send({ type: "button_up", button: BUTTONS[e.button] || "left", ...pos(video, e) }));
  video.addEventListener("wheel", (e) => {
    if (!controlling()) return;
    e.preventDefault();
    send({ type: "wheel", dx: notches(e.deltaX, e.deltaMode), dy: notches(e.deltaY, e.deltaMode), ...pos(video, e) });
  }, { passive: false });
  video.addEventListener("contextmenu", (e) => { if (controlling()) e.preventDefault(); });
  video.addEventListener("keydown", (e) => {
    if (!controlling() || e.repeat) return;
    e.preventDefault();
    send({ type: "key_down", code: e.code });
  });
  video.addEventListener("keyup", (e) => {
    if (!controlling()) return;
    e.preventDefault();
    send({ type: "key_up", code: e.code });
  });
}
