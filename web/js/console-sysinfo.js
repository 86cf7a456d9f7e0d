// Renders a customer's system information (the `info` of a `system_info` peer message,
// docs/protocol.md section 9.2) as readable lists and tables for the CSR console.

import { h, bytes, duration } from "./console-dom.js";

export function renderSystemInfo(info, who) {
  const row = (k, v) => (v === undefined || v === null || v === "" ? null : [h("dt", {}, k), h("dd", {}, String(v))]);
  const mem = info.memory_total_bytes ? `${bytes(info.memory_used_bytes)} used of ${bytes(info.memory_total_bytes)}` : null;
  const parts = [
    h("p", { class: "muted small" }, `From ${who}'s computer`),
    h("dl", { class: "facts" },
      row("Operating system", info.os), row("Kernel", info.kernel), row("Host name", info.hostname),
      row("CPU", info.cpu_model ? `${info.cpu_model}${info.cpu_cores ? ` · ${info.cpu_cores} cores` : ""}` : null),
      row("Memory", mem), row("Up for", typeof info.uptime_secs === "number" ? duration(info.uptime_secs) : null)),
  ];
  const table = (caption, heads, rows) => rows && rows.length ? h("table", { class: "small" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, heads.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))) : null;
  parts.push(table("Disks", ["Disk", "Mounted at", "Free", "Size"],
    (info.disks || []).map((d) => [d.name, d.mount_point, bytes(d.available_bytes), bytes(d.total_bytes)])));
  parts.push(table("Displays", ["Name", "Size"], (info.displays || []).map((d) => [d.name, d.width && d.height ? `${d.width} × ${d.height}` : ""])));
  parts.push(table("Network", ["Interface", "MAC", "Addresses"],
    (info.network || []).map((n) => [n.name, n.mac, (n.addresses || []).join(", ")])));
  return h("div", {}, parts);
}
