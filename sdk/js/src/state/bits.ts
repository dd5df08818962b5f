// Reading the bit stream of a state_snapshot (docs/protocol.md §4.20.2). Snapshot data comes
// from the network, so nothing here throws: a read past the end yields 0 and sets `overrun`,
// and the decoder checks it (and the range of every value) before trusting what it read.

/** The bits of n: 0 -> 0, 1 -> 1, 2-3 -> 2, 4-7 -> 3, ... (n an integer in [0, 2^32-1]). */
export function bitwidth(n: number): number {
  return n <= 0 ? 0 : 32 - Math.clz32(n);
}

const TWO_32 = 4294967296;

/** Least significant bit first, within bytes and within values. */
export class BitReader {
  private pos = 0;
  private readonly totalBits: number;
  /** A read went past the end: everything read since is 0 and the snapshot is corrupt. */
  overrun = false;

  constructor(private readonly data: Uint8Array) {
    this.totalBits = data.length * 8;
  }

  /** Bits left to read. */
  get remaining(): number {
    return this.totalBits - this.pos;
  }

  /** u(n): an n-bit unsigned integer, n in 0..32 (callers pass only widths from a checked schema). */
  u(n: number): number {
    if (n === 0) return 0;
    if (n > this.totalBits - this.pos) {
      this.overrun = true;
      this.pos = this.totalBits;
      return 0;
    }
    if (n > 24) {
      // Two reads, so that one never needs more than the 32 bits of a 4-byte window.
      const low = this.u(16);
      return low + this.u(n - 16) * 65536;
    }
    const d = this.data;
    const b = this.pos >>> 3;
    // A 4-byte little-endian window holds the n <= 24 bits after a shift of at most 7; bytes
    // past the end read as undefined, which `<<` turns into 0 (and n bits are there: checked).
    const window = (d[b] | (d[b + 1] << 8) | (d[b + 2] << 16) | (d[b + 3] << 24)) >>> (this.pos & 7);
    this.pos += n;
    return window & ((1 << n) - 1);
  }

  /**
   * v(k): groups of k bits, each followed by a "more" bit, least significant group first. At
   * most ceil(32 / k) groups and a value below 2^32; anything else returns -1 (corrupt).
   */
  v(k: number): number {
    const maxGroups = Math.ceil(32 / k);
    const step = 2 ** k;
    let value = 0;
    let scale = 1;
    for (let group = 0; group < maxGroups; group++) {
      value += this.u(k) * scale;
      scale *= step;
      if (this.u(1) === 0) return this.overrun || value >= TWO_32 ? -1 : value;
    }
    return -1;
  }

  /** The stream ends here: no whole byte left, and the unused bits of the last byte are zero. */
  atPaddedEnd(): boolean {
    const left = this.totalBits - this.pos;
    if (left >= 8) return false;
    return left === 0 || this.data[this.data.length - 1] >>> (8 - left) === 0;
  }
}
