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
    let value = 0;
    let got = 0;
    const data = this.data;
    while (got < n) {
      const byte = this.pos >>> 3;
      const shift = this.pos & 7;
      const take = Math.min(8 - shift, n - got);
      const bits = (data[byte] >>> shift) & ((1 << take) - 1);
      value += bits * 2 ** got;  // not `<<`: a 32-bit value must stay unsigned
      got += take;
      this.pos += take;
    }
    return value;
  }

  /**
   * v(k): groups of k bits, each followed by a "more" bit, least significant group first. At
   * most ceil(32 / k) groups and a value below 2^32; anything else returns -1 (corrupt).
   */
  v(k: number): number {
    const maxGroups = Math.ceil(32 / k);
    let value = 0;
    for (let group = 0; group < maxGroups; group++) {
      value += this.u(k) * 2 ** (k * group);
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
