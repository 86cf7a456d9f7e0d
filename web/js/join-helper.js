// Remote control needs the native helper: what a browser customer sees when asked for control
// (a browser page can't move its user's mouse), with the helper's download when this server
// offers it, and how to run it.

const HELPER_URL = "/downloads/tether-helper";

let offered = null; // a promise of whether this server offers the helper

/** Whether the server offers the helper for download (asked once). */
function helperOffered() {
  if (!offered) {
    offered = fetch(HELPER_URL, { method: "HEAD" })
      .then((r) => r.ok)
      .catch(() => false);
  }
  return offered;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

/**
 * The prompt for a control request: `who` asked; `decline()` answers it (a browser can't be
 * controlled, so this participant can only decline; the helper joins as its own participant
 * and is asked again there).
 */
export function controlPrompt(who, decline) {
  const download = el("a", { href: HELPER_URL, download: "tether-helper", className: "button primary", hidden: true }, "Download the helper (Linux)");
  download.dataset.helperDownload = "";
  const noDownload = el("span", { hidden: true }, `Ask ${who} where to get the tether helper.`);
  helperOffered().then((ok) => {
    download.hidden = !ok;
    noDownload.hidden = ok;
  });
  const close = el("button", { type: "button" }, "Not from this browser");
  close.dataset.answer = "deny";
  close.onclick = () => decline();
  const item = el(
    "li",
    { className: "consent helper-needed" },
    el("p", {}, `${who} asks to control your mouse and keyboard.`),
    el(
      "p",
      {},
      "A web page can't be given control of your computer. For that, run the tether helper on this computer: ",
      "it asks you again before anything happens, and you can stop it at any time.",
    ),
    el(
      "ol",
      { className: "helper-steps" },
      el("li", {}, download, noDownload),
      el("li", {}, `Ask ${who} for a new invitation code for the helper.`),
      el("li", {}, "Run it in a terminal: ", el("code", {}, "chmod +x tether-helper && ./tether-helper 1234-56789"), " (with your code)."),
    ),
    el("div", { className: "actions" }, close),
  );
  item.dataset.consent = "remote_control";
  return item;
}
