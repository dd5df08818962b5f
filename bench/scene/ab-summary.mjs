// Summarises labelled scene runs (bench/scene/ab-craft.sh): per label and scene, the server CPU of each run and the means.
// usage: node bench/scene/ab-summary.mjs DIR [FIRST_FILE] (files named at or after FIRST_FILE)
import { readFileSync, readdirSync } from "node:fs";
const dir = process.argv[2] || "bench/results";
const since = process.argv[3] || "";
const rows = [];
for (const f of readdirSync(dir).filter((f) => f.endsWith(".jsonl") && f >= since)) {
  for (const l of readFileSync(`${dir}/${f}`, "utf8").split("\n").filter(Boolean)) { const r = JSON.parse(l); if (r.serverCpuUsPerClientS != null) rows.push(r); }
}
const groups = new Map();
for (const r of rows) {
  const k = `${r.label}|${r.scene}`;
  if (!groups.has(k)) groups.set(k, []);
  groups.get(k).push(r);
}
const f = (x, d = 0) => x.toFixed(d);
console.log("| variant | scene | runs | srv CPU µs/client-s (each) | mean | inputs/s/client | frames/s/client | µs per message (in + out) | µs/room tick | ticks/s/room | load avg |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const [k, rs] of [...groups].sort()) {
  const [label, scene] = k.split("|");
  const mean = (g) => rs.reduce((a, r) => a + g(r), 0) / rs.length;
  console.log(`| ${label} | ${scene} | ${rs.length} | ${rs.map((r) => f(r.serverCpuUsPerClientS)).join(", ")} | ${f(mean((r) => r.serverCpuUsPerClientS))} | ${f(mean((r) => r.inputsPerClientS), 1)} | ${f(mean((r) => r.framesPerClientS), 1)} | ${f(mean((r) => r.serverCpuUsPerClientS / (r.inputsPerClientS + r.framesPerClientS)), 1)} | ${f(mean((r) => r.serverCpuUsPerRoomTick))} | ${f(mean((r) => r.tickRatePerRoom), 1)} | ${rs.map((r) => r.loadavg[0]).join(", ")} |`);
}
