/**
 * Transitions that a cluster member has to send and may not have sent yet
 * (docs/scaling.md, "Alerts fire once"). A transition enters the outbox
 * before the checkpoint that has it is written, and leaves it once sent; the
 * holder exports the outbox with its devices, so a member killed between the
 * broker's confirmation of that checkpoint and the send leaves the transition
 * to the next owner, which sends it. A member killed after the send and
 * before the next checkpoint leaves it too: the next owner sends it again,
 * with the same idempotency key. At least once, with a key.
 */

/** What the outbox keeps: a transition of one device, with its idempotency key. */
export interface OutboxItem {
  device: string;
  key?: string;
}

export class Outbox<T extends OutboxItem> {
  private readonly items = new Map<string, T>();

  private static keyOf(e: OutboxItem): string {
    return e.key ?? '';
  }

  get size(): number {
    return this.items.size;
  }

  /** Transitions to send. Ones without a key are not kept (there is nothing to tell their repeats apart by). */
  add(events: readonly T[]): void {
    for (const e of events) if (e.key) this.items.set(e.key, e);
  }

  /** Whether a transition is still to send here (not sent, and its device not handed on meanwhile). */
  has(e: T): boolean {
    return !e.key || this.items.get(e.key) === e;
  }

  /** The transitions are out. */
  sent(events: readonly T[]): void {
    for (const e of events) if (e.key && this.items.get(e.key) === e) this.items.delete(e.key);
  }

  /** The transitions of the devices `keep` accepts, oldest first, for a checkpoint. */
  export(keep: (device: string) => boolean): T[] {
    return [...this.items.values()].filter((e) => keep(e.device));
  }

  /** Drops the transitions of the devices `drop` accepts (their state went to another member, or was replaced). */
  forget(drop: (device: string) => boolean): void {
    for (const [k, e] of this.items) if (drop(e.device)) this.items.delete(k);
  }

  /**
   * What a checkpoint's outbox holds, as items of this outbox; entries that are
   * not transitions of a device with a key are left out (a checkpoint is another member's
   * writing).
   */
  static read<T extends OutboxItem>(state: unknown): T[] {
    const list = state && typeof state === 'object' ? (state as { outbox?: unknown }).outbox : undefined;
    if (!Array.isArray(list)) return [];
    return list.filter((e): e is T => !!e && typeof e === 'object' && typeof (e as OutboxItem).device === 'string' && typeof (e as OutboxItem).key === 'string' && Outbox.keyOf(e as OutboxItem) !== '');
  }
}
