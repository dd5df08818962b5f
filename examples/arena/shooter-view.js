// Draws a ShooterGame (shooter.js) on a canvas: the whole world at SCALE (a quarter of the
// pixels of world size: drawing stays cheap on a software-rendered page; CSS scales it to the
// page), walls, players as circles with an aim line, names and hp bars, hit rings and shot
// tracers. Called once per display frame.
const SCALE = 0.5;
const TRACER_MS = 180;
const COLORS = { you: "#2f6fb3", other: "#d9534f", bot: "#8a6d3b", dead: "#b8bec6", wall: "#5b6470" };

export function drawArena(canvas, game, { live = true, now = performance.now() } = {}) {
  const ctx = canvas.getContext("2d");
  const w = Math.round(game.world.w * SCALE), h = Math.round(game.world.h * SCALE);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.setTransform(SCALE, 0, 0, SCALE, 0, 0);  // from here on, world units
  ctx.fillStyle = COLORS.wall;
  for (const [x, y, w, h] of game.walls) ctx.fillRect(x, y, w, h);

  const r = game.rules.radius;
  const pos = game.positions(now);
  for (const [id, p] of Object.entries(pos)) {
    const mine = Number(id) === game.you;
    const color = !live || !p.alive ? COLORS.dead : mine ? COLORS.you : p.bot ? COLORS.bot : COLORS.other;
    ctx.globalAlpha = p.alive ? 1 : 0.35;
    // Aim: ours from the mouse now, the others' as replicated.
    const aim = mine && game.localAim !== undefined ? game.localAim : p.aim;
    ctx.strokeStyle = color;
    ctx.lineWidth = 4;
    ctx.beginPath();
    ctx.moveTo(p.x, p.y);
    ctx.lineTo(p.x + Math.cos(aim) * r * 2.2, p.y + Math.sin(aim) * r * 2.2);
    ctx.stroke();
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.arc(p.x, p.y, r, 0, 2 * Math.PI);
    ctx.fill();
    // hp bar and name above.
    const top = p.y - r - 10;
    ctx.fillStyle = "#e3e6ea";
    ctx.fillRect(p.x - 22, top, 44, 8);
    ctx.fillStyle = p.hp > 50 ? "#2e7d4f" : p.hp > 25 ? "#a86300" : "#b3261e";
    ctx.fillRect(p.x - 22, top, (44 * Math.max(0, Math.min(100, p.hp))) / 100, 8);
    ctx.fillStyle = "#1f2933";
    ctx.font = "26px system-ui";
    ctx.textAlign = "center";
    ctx.fillText(mine ? `${p.name} (you)` : p.bot ? `${p.name} (bot)` : p.name, p.x, top - 6);
    ctx.globalAlpha = 1;
  }

  // Hits: a ring on the target for a moment (ours: the server agreed with our shot).
  for (const h of game.hits) {
    const p = pos[h.target];
    if (!p || now - h.at > TRACER_MS) continue;
    ctx.strokeStyle = h.target === game.you ? "#b3261e" : "#f0b429";
    ctx.lineWidth = 4;
    ctx.beginPath();
    ctx.arc(p.x, p.y, r + 6, 0, 2 * Math.PI);
    ctx.stroke();
  }

  // Tracers fade out; old ones are dropped here.
  game.tracers = game.tracers.filter((t) => now - t.at < TRACER_MS);
  for (const t of game.tracers) {
    ctx.globalAlpha = 1 - (now - t.at) / TRACER_MS;
    ctx.strokeStyle = t.mine ? "#f0b429" : "#ff6b5b";
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.moveTo(t.x1, t.y1);
    ctx.lineTo(t.x2, t.y2);
    ctx.stroke();
  }
  ctx.globalAlpha = 1;
  return pos;
}
