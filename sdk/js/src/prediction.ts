// Client-side prediction with server reconciliation for the local player: apply inputs at
// once, remember them until the server says it applied them, and replay the rest on top of
// every authoritative state.
export interface PredictorOptions<S, I> {
  /** The same step the server runs for one input. Must not mutate `state`. */
  apply: (state: S, input: I) => S;
  /** Starting state (optional until the first reconcile). */
  initial?: S;
}

export class Predictor<S, I> {
  private seq = 0;
  private readonly unacked: { seq: number; input: I }[] = [];
  private current: S | undefined;

  constructor(private readonly options: PredictorOptions<S, I>) {
    this.current = options.initial;
  }

  /** Applies an input locally; send it to the server with the returned seq. */
  applyLocal(input: I): { seq: number; state: S } {
    const seq = ++this.seq;
    this.unacked.push({ seq, input });
    if (this.current !== undefined) this.current = this.options.apply(this.current, input);
    return { seq, state: this.current as S };
  }

  /** The server's state for us after applying inputs up to `lastProcessedSeq`. */
  reconcile(authoritative: S, lastProcessedSeq: number): S {
    while (this.unacked.length && this.unacked[0].seq <= lastProcessedSeq) this.unacked.shift();
    let state = authoritative;
    for (const { input } of this.unacked) state = this.options.apply(state, input);
    this.current = state;
    return state;
  }

  /** Inputs sent but not yet applied by the server. */
  pending(): number {
    return this.unacked.length;
  }

  state(): S | undefined {
    return this.current;
  }

  /** The seq the next input will get minus one. */
  lastSeq(): number {
    return this.seq;
  }
}
