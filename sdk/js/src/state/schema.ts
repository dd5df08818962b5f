// A room's state_schema (docs/protocol.md §4.20), checked once so that decoding can trust it:
// the bits of every field, the number of components (the width of a component mask).
import { bitwidth } from "./bits.js";

/** A 2D vector field's value. */
export interface Vec2 {
  x: number;
  y: number;
}
/** A 3D vector field's value. */
export interface Vec3 {
  x: number;
  y: number;
  z: number;
}
/** A decoded field value: integer, number and enumeration are numbers; boolean; text; vec2 / vec3. */
export type FieldValue = number | boolean | string | Vec2 | Vec3;

/** The wire types of §4.20.2 (StateFieldType's values). */
export type FieldType = "integer" | "number" | "boolean" | "enumeration" | "text" | "vec2" | "vec3";
const TYPES: Record<number, FieldType> = { 1: "integer", 2: "number", 3: "boolean", 4: "enumeration", 5: "text", 6: "vec2", 7: "vec3" };

/** state_schema as it arrives (the generated StateSchema fits; tests pass plain objects). */
export interface StateSchemaInit {
  roomId?: string;
  tickRateHz: number;
  sendIntervalTicks: number;
  baselineWindow: number;
  components: { name: string; fields: { name: string; type: number; min: number; max: number; precision: number; count: number }[] }[];
}

/** One field, checked. */
export interface FieldInfo {
  readonly name: string;
  readonly type: FieldType;
  readonly min: number;
  readonly max: number;
  readonly precision: number;
  /** enumeration: number of values; text: at most this many bytes. */
  readonly count: number;
  /** The largest wire value of one value (one axis of a vector): integer max - min, number steps, enumeration count - 1. */
  readonly steps: number;
  /** Bits of one value (one axis); text: bits of a byte (8), the length prefix on top. */
  readonly bits: number;
  /**
   * Integer, number and vector fields: the field's index among the schema's delta-coded fields
   * (its delta width in a snapshot, docs/protocol.md §4.20.3); -1 for the others.
   */
  readonly deltaIndex: number;
}
export interface ComponentInfo {
  readonly name: string;
  readonly fields: readonly FieldInfo[];
}
/** A room's schema, checked (see checkSchema). */
export interface StateSchemaInfo {
  readonly roomId: string;
  readonly tickRateHz: number;
  readonly sendIntervalTicks: number;
  readonly baselineWindow: number;
  /** Index i is bit i of an entity's component mask. */
  readonly components: readonly ComponentInfo[];
  /** Integer, number and vector fields in the schema: the delta widths a snapshot may carry. */
  readonly deltaFields: number;
}

const MAX_STEPS = 4294967295;  // a value fits in u(32)
/** Frames kept are at most this many, whatever the server says (a client bounds its own memory). */
export const MAX_BASELINE_WINDOW = 1024;

/**
 * Checks a schema and works out each field's bits. Returns an error text for a schema this
 * client cannot decode with: more than 32 components, an unknown type, a bad range or
 * precision, more than 2^32 steps, an enumeration of no values, an empty or repeated name, a
 * component named "id" (entity.id is the network id), a tick rate of 0.
 */
export function checkSchema(s: StateSchemaInit): StateSchemaInfo | string {
  if (!(s.tickRateHz > 0)) return "tick_rate_hz is 0";
  if (s.components.length > 32) return `${s.components.length} components (at most 32)`;
  const components: ComponentInfo[] = [];
  const names = new Set<string>();
  let deltaFields = 0;
  for (const c of s.components) {
    if (c.name === "" || c.name === "id" || names.has(c.name)) return `bad component name "${c.name}"`;
    names.add(c.name);
    const fields: FieldInfo[] = [];
    const fieldNames = new Set<string>();
    for (const f of c.fields) {
      if (f.name === "" || fieldNames.has(f.name)) return `${c.name}: bad field name "${f.name}"`;
      fieldNames.add(f.name);
      const info = checkField(f);
      if (typeof info === "string") return `${c.name}.${f.name}: ${info}`;
      const delta = info.type === "integer" || info.type === "number" || info.type === "vec2" || info.type === "vec3";
      fields.push({ ...info, deltaIndex: delta ? deltaFields++ : -1 });
    }
    components.push({ name: c.name, fields });
  }
  return {
    roomId: s.roomId ?? "",
    tickRateHz: s.tickRateHz,
    sendIntervalTicks: Math.max(1, s.sendIntervalTicks),
    baselineWindow: Math.min(Math.max(1, s.baselineWindow), MAX_BASELINE_WINDOW),
    components,
    deltaFields,
  };
}

function checkField(f: StateSchemaInit["components"][number]["fields"][number]): Omit<FieldInfo, "deltaIndex"> | string {
  const type = TYPES[f.type];
  if (!type) return `unknown type ${f.type}`;
  const base = { name: f.name, type, min: f.min, max: f.max, precision: f.precision, count: f.count };
  switch (type) {
    case "integer": {
      const range = f.max - f.min;
      if (!Number.isSafeInteger(f.min) || !Number.isSafeInteger(f.max) || !(range >= 0 && range <= MAX_STEPS)) {
        return `bad integer range [${f.min}, ${f.max}]`;
      }
      return { ...base, steps: range, bits: bitwidth(range) };
    }
    case "number":
    case "vec2":
    case "vec3": {
      if (!Number.isFinite(f.min) || !Number.isFinite(f.max) || f.min > f.max) return `bad range [${f.min}, ${f.max}]`;
      if (!(Number.isFinite(f.precision) && f.precision > 0)) return `bad precision ${f.precision}`;
      const steps = Math.round((f.max - f.min) / f.precision);
      if (!(steps <= MAX_STEPS)) return `${steps} steps (at most 2^32 - 1)`;
      return { ...base, steps, bits: bitwidth(steps) };
    }
    case "boolean":
      return { ...base, steps: 1, bits: 1 };
    case "enumeration":
      if (f.count < 1) return "an enumeration of no values";
      return { ...base, steps: f.count - 1, bits: bitwidth(f.count - 1) };
    case "text":
      return { ...base, steps: 255, bits: 8 };
  }
}
