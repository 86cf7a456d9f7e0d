// Words the console shows for roles, consent capabilities and activities, and the seed's
// remote-control menu in its order.

export const ROLE_NAMES = {
  controller: "Controller",
  csr: "CSR",
  primary_customer: "Primary customer",
  customer: "Customer",
};
export const CAPABILITY_NAMES = {
  remote_view: "view the screen",
  remote_control: "control the computer",
  file_transfer: "transfer files",
  system_info: "share system information",
  recording: "record the session",
};
// The seed's remote-control menu, in its order.
export const RC_OPTIONS = [
  ["view_desktop", "View desktop", "See the primary customer's whole screen."],
  ["control_desktop", "Control desktop", "Use the customer's mouse and keyboard."],
  ["view_application", "View application", "See one window the customer chooses."],
  ["control_application", "Control application", "Control one window the customer chooses."],
  ["share_desktop", "Share my desktop", "Show your screen to the customers."],
  ["share_application", "Share my application", "Show one of your windows to the customers."],
];
export const ACTIVITY_NAMES = Object.fromEntries(RC_OPTIONS.map(([a, l]) => [a, l]));
Object.assign(ACTIVITY_NAMES, {
  customer_share: "Customer shares the screen", video: "Video", recording: "Recording",
  file_transfer_basic: "File transfer (basic)", file_transfer_advanced: "File transfer (advanced)",
});
