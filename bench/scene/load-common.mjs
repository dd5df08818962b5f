// What the scene's two load generators share (bench/scene/craft-load.mjs and
// bench/peers/colyseus/load.mjs): their arguments, joining rooms in bounded parallel lanes, and
// the stdio protocol run-scene.mjs speaks with them. Plain node, no dependencies.
import { createInterface } from "node:readline";

export function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

// Clients 0..clients-1 in groups of roomSize (one room each). Rooms join in parallel, at most
// `concurrency` at a time, the clients of one room in sequence (joinRoom(group)). Past
// deadlineMs (0: none) no further room starts; stopped() also ends the lanes.
export async function joinInLanes({ clients, roomSize, concurrency, deadlineMs, joinRoom, stopped }) {
  const groups = [];
  for (let i = 0; i < clients; i += roomSize) {
    const g = [];
    for (let k = i; k < Math.min(clients, i + roomSize); k++) g.push(k);
    groups.push(g);
  }
  let next = 0;
  const lanes = Math.max(1, Math.floor(concurrency));
  const lanesDone = Promise.all(Array.from({ length: Math.min(lanes, groups.length) }, async () => {
    while (next < groups.length && !stopped()) await joinRoom(groups[next++]);
  }));
  if (deadlineMs > 0) {
    let timer;
    await Promise.race([lanesDone, new Promise((r) => { timer = setTimeout(r, deadlineMs); })]);
    clearTimeout(timer);
  } else {
    await lanesDone;
  }
}

// The protocol with run-scene.mjs: progress on stderr every 5 s while joining, one
// {"event":"ready",...} line once connectAll() returns (the number of rooms), then one
// {"event":"mark",...} line per `mark` on stdin; `quit` or EOF calls quit().
export async function serveLoad({ name, connectAll, startInputs, mark, quit, status }) {
  const t0 = Date.now();
  const progress = setInterval(() => {
    const { connected, failed } = status();
    process.stderr.write(`${name}: ${connected} joined, ${failed} failed after ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }, 5000);
  const rooms = await connectAll();
  clearInterval(progress);
  startInputs();
  process.stdout.write(JSON.stringify({ event: "ready", ...status(), rooms }) + "\n");
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    const cmd = line.trim();
    if (cmd === "mark") process.stdout.write(JSON.stringify(mark()) + "\n");
    else if (cmd === "quit") quit();
  });
  rl.on("close", quit);
}
