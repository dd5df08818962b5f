// A small typed event emitter for the SDK's objects (Lobby, Matchmaker, Parties).
export class Emitter<Events extends object> {
  private readonly sets = new Map<keyof Events, Set<(v: never) => void>>();

  /** Listens to an event; returns an unsubscribe. */
  on<E extends keyof Events>(event: E, cb: (value: Events[E]) => void): () => void {
    let set = this.sets.get(event);
    if (!set) this.sets.set(event, (set = new Set()));
    const f = cb as (v: never) => void;
    set.add(f);
    return () => set!.delete(f);
  }

  /** @internal */
  emit<E extends keyof Events>(event: E, value: Events[E]): void {
    const set = this.sets.get(event);
    if (set) for (const f of [...set]) (f as (v: Events[E]) => void)(value);
  }
}
