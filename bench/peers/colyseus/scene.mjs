// The issue-13 scene's state and movement on Colyseus' schema: shared by server.mjs (the room)
// and codec-bench.mjs (the same encode and decode without sockets).
import { schema, t } from "@colyseus/schema";

export const ARENA_W = 800;
export const ARENA_H = 600;
export const SPEED = 100; // px/s
export const TICK_MS = 50; // 20 Hz
export const Q16 = 64; // typing "q16": 1/64 px

// Two typings of the same entity; the state's map field with and without the .view() tag.
// "f32": x, y float32 and heading uint8 (256 steps a turn), the smallest honest Colyseus typing
// of "positions as two floats plus a heading" (Colyseus has no quantized float);
// "q16": x, y uint16 fixed point, what a Colyseus developer could do by hand.
export const EntityF32 = schema({ x: t.float32(), y: t.float32(), heading: t.uint8() }, "EntityF32");
export const EntityQ16 = schema({ x: t.uint16(), y: t.uint16(), heading: t.uint8() }, "EntityQ16");
const StateF32 = schema({ entities: t.map(EntityF32) }, "StateF32");
const StateF32View = schema({ entities: t.map(EntityF32).view() }, "StateF32View");
const StateQ16 = schema({ entities: t.map(EntityQ16) }, "StateQ16");
const StateQ16View = schema({ entities: t.map(EntityQ16).view() }, "StateQ16View");

export function stateTypes(typing, filtered) {
  const q16 = typing === "q16";
  return {
    Entity: q16 ? EntityQ16 : EntityF32,
    State: q16 ? (filtered ? StateQ16View : StateQ16) : (filtered ? StateF32View : StateF32),
    q16,
  };
}

// The random walk: every tick the heading (256 steps a turn) turns by a uniform integer in
// [-TURN_MAX, TURN_MAX]; bots draw it on the server, players send it as their input.
export const TURN_MAX = 10;
export function randomTurn() {
  return Math.floor(Math.random() * (2 * TURN_MAX + 1)) - TURN_MAX;
}

// One tick of movement, the same for bots and players: turn, step SPEED * dt along the heading,
// and bounce off the walls (the heading is mirrored), so every entity keeps moving instead of
// sliding along a wall or sitting in a corner.
export function step(s, dt) {
  let h = (s.h + s.turn + 256) & 255;
  const d = SPEED * dt;
  const a = h * (2 * Math.PI / 256);
  let x = s.x + Math.cos(a) * d;
  let y = s.y + Math.sin(a) * d;
  if (x < 0 || x > ARENA_W) { h = (128 - h + 256) & 255; x = x < 0 ? -x : 2 * ARENA_W - x; }
  if (y < 0 || y > ARENA_H) { h = (256 - h) & 255; y = y < 0 ? -y : 2 * ARENA_H - y; }
  s.h = h;
  s.x = x;
  s.y = y;
}

// Copies the simulation's numbers into the schema instance (what Colyseus tracks and sends).
export function write(s, q16) {
  if (q16) {
    s.e.x = Math.round(s.x * Q16) & 0xffff;
    s.e.y = Math.round(s.y * Q16) & 0xffff;
  } else {
    s.e.x = s.x;
    s.e.y = s.y;
  }
  s.e.heading = s.h;
}

// A new entity at a uniform random place and heading.
export function newEntity(id, Entity, q16, client = null) {
  const s = { id, x: Math.random() * ARENA_W, y: Math.random() * ARENA_H, h: (Math.random() * 256) | 0, turn: 0, e: new Entity(), client };
  write(s, q16);
  return s;
}

// Interest: every entity within `radius` of `me` is in the view, every other one is not.
export function updateView(view, me, entities, radius) {
  const r2 = radius * radius;
  for (const s of entities) {
    const dx = s.x - me.x, dy = s.y - me.y;
    const inside = dx * dx + dy * dy <= r2;
    const has = view.has(s.e);
    if (inside && !has) view.add(s.e);
    else if (!inside && has) view.remove(s.e);
  }
}
