/**
 * The broker's kept state in memory (retained messages, session subscriptions,
 * queued and incoming packets, wills, expiries, shared subscriptions) and the one
 * place it changes: apply() runs an operation live and on replay of the state
 * log; snapshot() gives the operations that rebuild it, for compaction.
 */
import QlobberSub from 'qlobber/aedes/qlobber-sub';
import type { AedesPacket, AedesSubscription } from './aedes-types';
import { payloadOf, plain, QLOBBER, revive, type Op } from './persistence-records';

export abstract class PersistedState {
  protected retained = new Map<string, AedesPacket>();
  protected subscriptions = new Map<string, Map<string, AedesSubscription>>();
  protected outgoing = new Map<string, AedesPacket[]>();
  protected incoming = new Map<string, Map<number, AedesPacket>>();
  protected wills = new Map<string, AedesPacket>();
  protected expiries = new Map<string, number>();
  /**
   * Client ids with a session that outlives its connection (clean session off, MQTT 5 Session Expiry > 0),
   * whether or not it holds anything: a device that only publishes has no subscriptions to show for it.
   */
  protected sessions = new Set<string>();
  /** Shared subscriptions of persistent sessions (aedes knows nothing of them), by client and `$share/...` filter. */
  protected shared = new Map<string, Map<string, AedesSubscription>>();
  protected trie = new QlobberSub(QLOBBER);

  /** `live`: the object as given, kept as it is in memory (replay builds one from the record). */
  protected apply(op: Op, live?: AedesPacket): void {
    switch (op[0]) {
      case 'ret':
        if (op[2]) this.retained.set(op[1], live ?? { ...op[2], payload: payloadOf(op[2].payload) });
        else this.retained.delete(op[1]);
        break;
      case 'sub': {
        let stored = this.subscriptions.get(op[1]);
        if (!stored) this.subscriptions.set(op[1], (stored = new Map()));
        for (const s of op[2]) {
          const before = stored.get(s.topic);
          if (s.qos > 0) this.trie.add(s.topic, { clientId: op[1], topic: s.topic, qos: s.qos, rh: s.rh, rap: s.rap, nl: s.nl });
          else if (before && before.qos > 0) this.trie.remove(s.topic, { clientId: op[1], topic: s.topic });
          stored.set(s.topic, s);
        }
        break;
      }
      case 'unsub': {
        const stored = this.subscriptions.get(op[1]);
        if (!stored) break;
        for (const topic of op[2]) {
          const s = stored.get(topic);
          if (!s) continue;
          if (s.qos > 0) this.trie.remove(topic, { clientId: op[1], topic });
          stored.delete(topic);
        }
        if (stored.size === 0) this.subscriptions.delete(op[1]);
        break;
      }
      case 'clean': {
        this.shared.delete(op[1]);
        const stored = this.subscriptions.get(op[1]);
        if (!stored) break;
        for (const [topic, s] of stored) if (s.qos > 0) this.trie.remove(topic, { clientId: op[1], topic });
        this.subscriptions.delete(op[1]);
        break;
      }
      case 'enq':
        for (const id of op[1]) {
          let q = this.outgoing.get(id);
          if (!q) this.outgoing.set(id, (q = []));
          q.push(revive(op[2]));
        }
        break;
      case 'upd': {
        const q = this.outgoing.get(op[1]);
        const found = q?.find((p) => p.brokerId === op[2] && p.brokerCounter === op[3]);
        if (found) found.messageId = op[4];
        break;
      }
      case 'rel': {
        const q = this.outgoing.get(op[1]);
        const i = q ? q.findIndex((p) => p.messageId === op[2]) : -1;
        if (q && i >= 0) q[i] = live ?? ({ cmd: 'pubrel', messageId: op[2] } as AedesPacket);
        break;
      }
      case 'relq': {
        let q = this.outgoing.get(op[1]);
        if (!q) this.outgoing.set(op[1], (q = []));
        q.push({ cmd: 'pubrel', messageId: op[2] } as AedesPacket);
        break;
      }
      case 'clr': {
        const q = this.outgoing.get(op[1]);
        const i = q ? q.findIndex((p) => p.messageId === op[2]) : -1;
        if (q && i >= 0) {
          q.splice(i, 1);
          if (q.length === 0) this.outgoing.delete(op[1]);
        }
        break;
      }
      case 'in': {
        let m = this.incoming.get(op[1]);
        if (!m) this.incoming.set(op[1], (m = new Map()));
        m.set(op[2].messageId!, revive(op[2], true));
        break;
      }
      case 'indel': {
        const m = this.incoming.get(op[1]);
        m?.delete(op[2]);
        if (m && m.size === 0) this.incoming.delete(op[1]);
        break;
      }
      case 'will':
        this.wills.set(op[1], revive(op[2]));
        break;
      case 'delwill':
        this.wills.delete(op[1]);
        break;
      case 'exp':
        if (op[2] === null) this.expiries.delete(op[1]);
        else this.expiries.set(op[1], op[2]);
        break;
      case 'ssub': {
        let m = this.shared.get(op[1]);
        if (!m) this.shared.set(op[1], (m = new Map()));
        m.set(op[2].topic, op[2]);
        break;
      }
      case 'sunsub': {
        const m = this.shared.get(op[1]);
        m?.delete(op[2]);
        if (m && m.size === 0) this.shared.delete(op[1]);
        break;
      }
      case 'ses':
        this.sessions.add(op[1]);
        break;
      case 'endses':
        this.sessions.delete(op[1]);
        this.incoming.delete(op[1]);
        break;
      case 'drop':
        this.apply(['clean', op[1]]);
        this.sessions.delete(op[1]);
        this.outgoing.delete(op[1]);
        this.incoming.delete(op[1]);
        this.wills.delete(op[1]);
        this.expiries.delete(op[1]);
        break;
    }
  }

  /** Ops that rebuild the current state, for compaction. */
  protected *snapshot(): Iterable<Op> {
    for (const [topic, p] of this.retained) yield ['ret', topic, plain(p)];
    for (const [id, subs] of this.subscriptions) yield ['sub', id, [...subs.values()]];
    for (const [id, q] of this.outgoing) {
      for (const p of q) {
        if (p.cmd === 'pubrel') {
          yield ['relq', id, p.messageId!];
          continue;
        }
        yield ['enq', [id], plain(p)];
        if (p.messageId !== undefined) yield ['upd', id, p.brokerId, p.brokerCounter, p.messageId];
      }
    }
    for (const [id, m] of this.incoming) for (const p of m.values()) yield ['in', id, plain(p, true)];
    for (const [id, w] of this.wills) yield ['will', id, plain(w)];
    for (const [id, at] of this.expiries) yield ['exp', id, at];
    for (const id of this.sessions) yield ['ses', id];
    for (const [id, m] of this.shared) for (const sub of m.values()) yield ['ssub', id, sub];
  }
}
