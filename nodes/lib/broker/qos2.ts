/**
 * Exactly-once for QoS 2 publishes from devices (MQTT 3.1.1 and 5, 4.3.3, method B):
 * a PUBLISH whose packet id still awaits its PUBREL is a copy the client resent (DUP,
 * after a lost PUBREC or a reconnect); it is answered with PUBREC again and not
 * delivered a second time.
 *
 * aedes keeps that state itself: it stores the first copy (incomingStorePacket, in the
 * broker's persistence, so it survives a reconnect and a restart), answers a copy it
 * finds there with PUBREC alone, and forgets it on PUBREL. But it looks only after
 * authorizePublish, and that hook is where the in-process subscribers (`mqtt in`) are
 * served, so every copy reached the journal. Here the same look is taken first, plus
 * what aedes does not cover:
 *
 * - copies that arrive while the first is still being made durable (in one socket read,
 *   or while the journal holds acknowledgements) wait for it, and are then answered by
 *   aedes from its store;
 * - the state of a session that ends (clean session, Clean Start, expiry) is forgotten
 *   (forget()), and a delivery of that session still under way is not finished into the
 *   next session's state;
 * - a client keeps at most `cap` messages awaiting PUBREL: past it the oldest is
 *   forgotten (its PUBREL is still answered with PUBCOMP; only a copy of it sent after
 *   that would be delivered again). A client that releases what it is acknowledged
 *   never gets near it.
 */
import type { AedesPacket } from './aedes-types';
import type { BrokerPersistence } from './persistence';

/** Hands a publish to the in-process subscribers: `ack` once all have it durable, `failed` when one cannot make it so. */
export type Delivery = (ack: () => void, failed: () => void) => void;

interface Copy {
  packet: AedesPacket;
  deliver: Delivery;
  /** aedes' authorizePublish callback. */
  done: () => void;
}

interface InFlight {
  packet: AedesPacket;
  /** Copies that arrived while this one was being delivered. */
  copies: Copy[];
}

export interface InboundQos2Options {
  /** Messages awaiting PUBREL kept per client (the broker's Receive Maximum). */
  cap: number;
  /** Told when a message awaiting PUBREL is forgotten to stay within the cap. */
  onEvicted?: (clientId: string, messageId: number) => void;
  /** The state file could not be written. */
  onError?: (err: Error) => void;
}

export class InboundQos2 {
  /** Per client id, by packet id: first copies handed to the subscribers and not yet acknowledged. */
  private readonly inFlight = new Map<string, Map<number, InFlight>>();
  /** First copies whose session ended while they were delivered. */
  private readonly orphans = new WeakSet<AedesPacket>();

  constructor(
    private readonly persistence: BrokerPersistence,
    private readonly opts: InboundQos2Options,
  ) {}

  /** Called from authorizePublish for a QoS 2 publish with a packet id; `done` is aedes' callback. */
  admit(clientId: string, packet: AedesPacket, deliver: Delivery, done: () => void): void {
    const id = packet.messageId!;
    // aedes finds it in its store too, and answers PUBREC without publishing it again.
    if (this.persistence.hasIncoming(clientId, id)) return done();
    let mine = this.inFlight.get(clientId);
    const first = mine?.get(id);
    if (first) {
      first.copies.push({ packet, deliver, done });
      return;
    }
    if (!mine) this.inFlight.set(clientId, (mine = new Map()));
    this.makeRoom(clientId, mine.size);
    const entry: InFlight = { packet, copies: [] };
    mine.set(id, entry);
    deliver(
      () => this.delivered(clientId, entry, done),
      () => this.failed(clientId, entry),
    );
  }

  /**
   * A session ended: what it had awaiting PUBREL is no longer a reason to hold back a
   * message with the same id. Deliveries still under way are finished without telling
   * aedes (it would store the message in the next session's state); their connection
   * is gone, so there is no PUBREC to send, and copies waiting on them go with it.
   */
  forget(clientId: string): void {
    const mine = this.inFlight.get(clientId);
    if (!mine) return;
    for (const entry of mine.values()) this.orphans.add(entry.packet);
    this.inFlight.delete(clientId);
  }

  private delivered(clientId: string, entry: InFlight, done: () => void): void {
    if (this.orphans.has(entry.packet)) return;
    this.remove(clientId, entry);
    done();
    if (entry.copies.length === 0) return;
    // aedes stores the first copy right behind this callback (its check and store run as
    // promise callbacks), so by the next turn each copy finds it there and gets PUBREC alone.
    setImmediate(() => this.readmit(clientId, entry.copies));
  }

  /** The subscribers could not make it durable (no PUBREC was sent): the next copy is delivered as the first. */
  private failed(clientId: string, entry: InFlight): void {
    if (this.orphans.has(entry.packet)) return;
    this.remove(clientId, entry);
    this.readmit(clientId, entry.copies);
  }

  private readmit(clientId: string, copies: Copy[]): void {
    for (const c of copies) this.admit(clientId, c.packet, c.deliver, c.done);
  }

  private remove(clientId: string, entry: InFlight): void {
    const mine = this.inFlight.get(clientId);
    if (mine?.get(entry.packet.messageId!) !== entry) return;
    mine.delete(entry.packet.messageId!);
    if (mine.size === 0) this.inFlight.delete(clientId);
  }

  /** Keeps the client's messages awaiting PUBREL, stored and in delivery, below the cap. */
  private makeRoom(clientId: string, delivering: number): void {
    const stored = this.persistence.incomingIds(clientId);
    for (let i = 0; i < stored.length && stored.length - i + delivering >= this.opts.cap; i++) {
      this.persistence.incomingDelPacket({ id: clientId }, { messageId: stored[i] }).catch((err: Error) => this.opts.onError?.(err));
      this.opts.onEvicted?.(clientId, stored[i]);
    }
  }
}
