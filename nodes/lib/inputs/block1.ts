/**
 * Block-wise transfer of request bodies (RFC 7959 Block1), reassembled by the
 * CoAP input itself: per endpoint and resource (and Request-Tag), since clients
 * such as libcoap send each block with a new token. Blocks must come in order;
 * a repeated block (a retransmission) is acknowledged again; a transfer that
 * would pass the size limit, or whose Size1 option announces more (RFC 7959
 * §4), is refused before it is kept, at the first block that shows it. Bounded
 * in number and age of transfers.
 */
export interface Block1 {
  num: number;
  more: boolean;
  /** Block size exponent: size = 2^(szx + 4). */
  szx: number;
}

export type BlockResult =
  | { type: 'continue' }
  | { type: 'complete'; payload: Buffer }
  | { type: 'error'; code: '4.00' | '4.08' | '4.13'; message: string };

/** Reads a Block1 or Block2 option value (RFC 7959 §2.2): a uint of 0-3 bytes, NUM, M and SZX. */
export function parseBlock1(value: Buffer): Block1 | undefined {
  if (value.length > 3) return undefined;
  let n = 0;
  for (const b of value) n = n * 256 + b;
  return { num: n >>> 4, more: (n & 8) !== 0, szx: n & 7 };
}

/** A Block1 or Block2 option value: the shortest uint, none for 0 (RFC 7252 §3.2). */
export function block1Value(b: Block1): Buffer {
  const n = b.num * 16 + (b.more ? 8 : 0) + b.szx;
  if (n === 0) return Buffer.alloc(0);
  if (n < 256) return Buffer.from([n]);
  if (n < 65536) return Buffer.from([n >> 8, n & 255]);
  return Buffer.from([n >> 16, (n >> 8) & 255, n & 255]);
}

interface Transfer {
  chunks: Buffer[];
  bytes: number;
  next: number;
  at: number;
}

export class Block1Assembler {
  private readonly transfers = new Map<string, Transfer>();
  constructor(private readonly maxBytes: number, private readonly maxTransfers = 1000, private readonly lifetimeMs = 247_000) {}

  /**
   * What refuses a block on its own, whatever came before it: a reserved size, a short block that is not the
   * last, a body announced (`announced`, the request's Size1 option) or placed past the limit.
   */
  refusal(block: Block1, payload: Buffer, announced?: number): Extract<BlockResult, { type: 'error' }> | undefined {
    if (block.szx === 7) return { type: 'error', code: '4.00', message: 'Block1 size exponent 7 is reserved' };
    if (announced !== undefined && announced > this.maxBytes) {
      return { type: 'error', code: '4.13', message: `the payload announced (Size1 ${announced} bytes) is more than ${this.maxBytes} bytes` };
    }
    const size = 2 ** (block.szx + 4);
    if (block.more && payload.length !== size) return { type: 'error', code: '4.00', message: `block ${block.num} holds ${payload.length} bytes; every block but the last holds ${size}` };
    if (block.num * size + payload.length > this.maxBytes) return { type: 'error', code: '4.13', message: `the payload would be more than ${this.maxBytes} bytes` };
    return undefined;
  }

  /** `announced`: the request's Size1 option, the size of the whole body as the client tells it. */
  add(key: string, block: Block1, payload: Buffer, now = Date.now(), announced?: number): BlockResult {
    this.prune(now);
    const refused = this.refusal(block, payload, announced);
    if (refused) {
      // A transfer past the limit is given up; a malformed block leaves it for the client to send again.
      if (refused.code === '4.13') this.transfers.delete(key);
      return refused;
    }
    const start = block.num * 2 ** (block.szx + 4);
    let t = this.transfers.get(key);
    if (block.num === 0) {
      // A first block starts the transfer over (the client may have given up on an earlier one).
      t = { chunks: [], bytes: 0, next: 0, at: now };
      this.transfers.delete(key);
      this.transfers.set(key, t);
    }
    if (!t) return { type: 'error', code: '4.08', message: `block ${block.num} came without the blocks before it; start again at block 0` };
    if (start < t.bytes && block.more) return { type: 'continue' }; // a retransmitted block
    if (start !== t.bytes) {
      this.transfers.delete(key);
      return { type: 'error', code: '4.08', message: `block ${block.num} does not follow the ${t.bytes} bytes received; start again at block 0` };
    }
    t.chunks.push(payload);
    t.bytes += payload.length;
    t.next = block.num + 1;
    t.at = now;
    if (block.more) return { type: 'continue' };
    this.transfers.delete(key);
    return { type: 'complete', payload: Buffer.concat(t.chunks, t.bytes) };
  }

  get size(): number {
    return this.transfers.size;
  }

  private prune(now: number): void {
    for (const [k, t] of this.transfers) {
      if (this.transfers.size < this.maxTransfers && now - t.at < this.lifetimeMs) break;
      this.transfers.delete(k);
    }
  }
}
