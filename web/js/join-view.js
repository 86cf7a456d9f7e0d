// Rendering for the customer join page (join.html): the roster, consent prompts and granted
// consents, chat lines and the status line. Pure DOM building with textContent (never
// innerHTML), so names and chat text from others can't inject markup.
import { controlPrompt } from "./join-helper.js";

const $ = (id) => document.getElementById(id);

/** Words for each role and each capability a CSR may ask for. */
export const ROLE_NAMES = {
  controller: "support (in charge)",
  csr: "support",
  primary_customer: "customer (main)",
  customer: "customer",
};

export const CAPABILITY_TEXT = {
  remote_view: "see your screen",
  remote_control: "control your mouse and keyboard",
  file_transfer: "send files to your computer and fetch files from it",
  system_info: "read your system information (operating system, processor, memory, screen)",
  recording: "record this session",
};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

export function showError(text) {
  const box = $("error");
  box.textContent = text || "";
  box.hidden = !text;
}

export function setStatus(text) {
  $("status").textContent = text;
}

/** Show exactly one of the page's views: "join", "session" or "done". */
export function showView(name) {
  for (const view of ["join", "session", "done"]) $(view).hidden = view !== name;
  $("leave").hidden = name !== "session";
}

/** The roster's participants, this participant marked "(you)". */
export function renderRoster(roster, me) {
  const list = $("roster");
  list.replaceChildren(
    ...roster.participants.map((p) => {
      const dot = el("span", {
        className: p.connected ? "dot on" : "dot",
        title: p.connected ? "connected" : "not connected",
      });
      const who = el("span", { className: "who" }, p.name + (p.id === me ? " (you)" : ""));
      const role = el("span", { className: "role" }, ROLE_NAMES[p.role] ?? p.role);
      const item = el("li", {}, dot, who, role);
      item.dataset.participant = String(p.id);
      item.dataset.role = p.role;
      return item;
    }),
  );
}

/**
 * Pending consents as prompts with Allow/Deny, granted ones with Revoke. `askers` maps a
 * capability to the name of who asked; `answer(capability, granted)` and `revoke(capability)`
 * send the choice.
 */
export function renderConsents(roster, me, askers, { answer, revoke }) {
  const mine = roster.consents.filter((c) => c.customer === me);
  const pending = mine.filter((c) => c.state === "pending");
  const granted = mine.filter((c) => c.state === "granted");

  $("consent-prompts").replaceChildren(
    ...pending.map((c) => {
      const who = askers.get(c.capability) ?? "Your support representative";
      if (c.capability === "remote_control") return controlPrompt(who, () => answer(c.capability, false));
      const what = CAPABILITY_TEXT[c.capability] ?? c.capability;
      const allow = el("button", { type: "button", className: "primary" }, "Allow");
      const deny = el("button", { type: "button" }, "Deny");
      allow.dataset.answer = "allow";
      deny.dataset.answer = "deny";
      allow.onclick = () => answer(c.capability, true);
      deny.onclick = () => answer(c.capability, false);
      const item = el(
        "li",
        { className: "consent" },
        el("p", {}, `${who} asks to ${what}.`),
        el("div", { className: "actions" }, allow, deny),
      );
      item.dataset.consent = c.capability;
      return item;
    }),
  );
  // Focus stays where it is (a keypress meant for the chat must never answer a prompt); the
  // prompt is announced through its live region and reached with Tab.
  $("consents").hidden = pending.length === 0;

  $("granted-list").replaceChildren(
    ...granted.map((c) => {
      const revokeButton = el("button", { type: "button", className: "danger" }, "Revoke");
      revokeButton.dataset.revoke = c.capability;
      revokeButton.onclick = () => revoke(c.capability);
      const text = CAPABILITY_TEXT[c.capability] ?? c.capability;
      const item = el("li", { className: "granted-item" }, el("span", {}, `To ${text}`), revokeButton);
      item.dataset.granted = c.capability;
      return item;
    }),
  );
  $("granted").hidden = granted.length === 0;
}

function keepScrolled(log, add) {
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  add();
  if (atEnd) log.scrollTop = log.scrollHeight;
}

/** One chat line: who sent it, when, and the text. */
export function addChatLine({ from, text, sentAt, mine }) {
  const log = $("chat-log");
  const time = new Date(sentAt);
  const stamp = el("time", { dateTime: time.toISOString() }, time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  const item = el("li", { className: mine ? "line mine" : "line" }, el("span", { className: "from" }, from), stamp, el("br"), text);
  keepScrolled(log, () => log.append(item));
}

/** A line about the session itself (someone joined, left, ...). */
export function addNote(text) {
  const log = $("chat-log");
  keepScrolled(log, () => log.append(el("li", { className: "note" }, text)));
}

export function showDone(text) {
  $("done-text").textContent = text;
  showView("done");
}

const SHARE_HINT = "Your support representative can see your screen only if you share it. Your browser asks which screen or window to show.";

/** A list of names in words: "Ana", "Ana and Bo", "Ana, Bo and Cy". */
function namesInWords(names) {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/**
 * The screen-sharing card and banner. `pending`: the picker or the service has not answered
 * yet; `sharing`: the screen goes out to `names`; `why`: why this participant can't share now
 * (the Share button is disabled and says so).
 */
export function renderShare({ pending, sharing, names, why }) {
  const busy = pending || sharing;
  $("share").hidden = busy;
  $("share").disabled = Boolean(why);
  $("share-stop").hidden = !busy;
  $("share-card").classList.toggle("attention", sharing);
  let hint = SHARE_HINT;
  if (sharing) hint = "You can stop at any time, here or with your browser's own Stop sharing button.";
  else if (pending) hint = "Starting to share your screen…";
  else if (why) hint = why;
  $("share-hint").textContent = hint;
  const banner = $("sharing");
  banner.hidden = !sharing;
  banner.textContent = !sharing
    ? ""
    : names.length
      ? `Your screen is being shared with ${namesInWords(names)}.`
      : "Your screen is being shared; nobody else is here yet to see it.";
}
