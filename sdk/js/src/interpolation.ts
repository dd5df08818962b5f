// Snapshot interpolation: render remote objects a little in the past, between two
// snapshots the client already has, so motion stays smooth despite jitter and loss.
export interface InterpolatorOptions<T> {
  /** How far behind the newest server time to render (ms). Default 100. */
  delayMs?: number;
  /** How long to keep extrapolating past the newest snapshot before holding (ms). Default 250. */
  maxExtrapolateMs?: number;
  /** Blend a → b by t in [0, 1]. */
  lerp: (a: T, b: T, t: number) => T;
  /** Continue the a → b motion past b (t > 1). Default: lerp with t > 1. */
  extrapolate?: (a: T, b: T, t: number) => T;
  /** Snapshots kept. Default 64. */
  capacity?: number;
}

export class SnapshotInterpolator<T> {
  private readonly buffer: { time: number; value: T }[] = [];
  private readonly delayMs: number;
  private readonly maxExtrapolateMs: number;
  private readonly capacity: number;

  constructor(private readonly options: InterpolatorOptions<T>) {
    this.delayMs = options.delayMs ?? 100;
    this.maxExtrapolateMs = options.maxExtrapolateMs ?? 250;
    this.capacity = options.capacity ?? 64;
  }

  /** Adds a snapshot stamped with the server's time (ms). Out-of-order snapshots are placed in order. */
  push(serverTimeMs: number, snapshot: T): void {
    let i = this.buffer.length;
    while (i > 0 && this.buffer[i - 1].time > serverTimeMs) i--;
    if (i > 0 && this.buffer[i - 1].time === serverTimeMs) this.buffer[i - 1].value = snapshot;
    else this.buffer.splice(i, 0, { time: serverTimeMs, value: snapshot });
    if (this.buffer.length > this.capacity) this.buffer.splice(0, this.buffer.length - this.capacity);
  }

  get size(): number {
    return this.buffer.length;
  }

  /** The value to draw at server time `nowServerMs` (e.g. client.serverNow()). */
  sample(nowServerMs: number): T | undefined {
    const b = this.buffer;
    if (b.length === 0) return undefined;
    const render = nowServerMs - this.delayMs;
    if (b.length === 1 || render <= b[0].time) return b[0].value;
    const newest = b[b.length - 1];
    if (render >= newest.time) {
      const prev = b[b.length - 2];
      const past = Math.min(render - newest.time, this.maxExtrapolateMs);
      const t = 1 + past / (newest.time - prev.time);
      return (this.options.extrapolate ?? this.options.lerp)(prev.value, newest.value, t);
    }
    // Drop what is older than the pair we need; keep one before the render time.
    let i = 0;
    while (i + 1 < b.length && b[i + 1].time <= render) i++;
    if (i > 0) b.splice(0, i), (i = 0);
    const a = b[0], c = b[1];
    return this.options.lerp(a.value, c.value, (render - a.time) / (c.time - a.time));
  }
}
