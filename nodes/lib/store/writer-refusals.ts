/**
 * How the DurableWriter (writer.ts) tells refused data from an outage: a batch
 * the sink refuses is split in halves until the refused readings are isolated
 * (or the sink names them up front, for retention), and each becomes a dead
 * letter with the sink's reason; dead letters a store refuses for their text are
 * kept without the payload.
 */
import type { Reading } from '../reading';
import type { DeadLetter } from './types';
import type { WriterEvent, WriterSink } from './writer-types';
import { RetentionRefusedError, StoreRejectedError, StoreUnavailableError, UpperstackError } from '../errors';
import { previewJson } from '../preview';
import { quotedIn } from '../security/reason-redaction';

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Bisects until every reading is stored or refused (collected in `refused`); returns the outage that stopped it, if any. */
export async function isolate(store: WriterSink, kind: string, readings: Reading[], refused: DeadLetter[], written: (n: number) => void): Promise<Error | undefined> {
  // A stack of slices, left half on top, so the sink still sees the readings in order.
  const stack: Reading[][] = [readings];
  while (stack.length) {
    const part = stack.pop()!;
    let err: Error | undefined;
    try {
      await store.write(part);
    } catch (e) {
      err = asError(e);
    }
    if (!err) {
      written(part.length);
      continue;
    }
    if (err instanceof StoreUnavailableError) return err;
    // Readings the sink names as too old for it: dead-lettered together, the rest written at once.
    const kept = err instanceof RetentionRefusedError ? tooOld(kind, part, err, refused) : undefined;
    if (kept) {
      if (kept.length) stack.push(kept);
      continue;
    }
    if (part.length > 1) {
      const mid = part.length >> 1;
      stack.push(part.slice(mid), part.slice(0, mid));
      continue;
    }
    // One reading is refused. Only a sink that is otherwise fine can blame the reading.
    const health = await store.health().catch((e: unknown) => ({ ok: false, detail: asError(e).message }));
    if (!health.ok) return new StoreUnavailableError(`the ${kind} store refused a write and fails its health check: ${health.detail}`, { cause: err });
    refused.push(rejectedLetter(kind, part[0], err));
  }
  return undefined;
}

/**
 * Dead letters (BEYOND_RETENTION) for the readings a retention refusal names,
 * and the readings left to write; undefined when the refusal names none of
 * `part` (then the part is bisected like any refusal).
 */
function tooOld(kind: string, part: Reading[], err: RetentionRefusedError, refused: DeadLetter[]): Reading[] | undefined {
  const named = new Set(err.indexes.filter((i) => Number.isInteger(i) && i >= 0 && i < part.length));
  if (!named.size) return undefined;
  const kept: Reading[] = [];
  for (let i = 0; i < part.length; i++) {
    const r = part[i];
    if (!named.has(i)) {
      kept.push(r);
      continue;
    }
    const device = typeof r?.device === 'string' && r.device ? r.device : 'unknown';
    refused.push({ ts: Date.now(), device, source: `store:${kind}`, code: err.code, reason: err.reasonFor(device, r?.ts), payload: previewJson(r, 4096) });
  }
  return kept;
}

function rejectedLetter(kind: string, r: Reading, err: Error): DeadLetter {
  const device = typeof r?.device === 'string' && r.device ? r.device : 'unknown';
  const e = new StoreRejectedError(kind, device, err.message, err instanceof UpperstackError ? err.details.quoted : undefined);
  // The values the sink's reason shows, so a reader with fields masked is told their kind (scoped-store.ts).
  const quoted = quotedIn(e.message, e.details.quoted);
  return { ts: Date.now(), device, source: `store:${kind}`, code: e.code, reason: e.message, payload: previewJson(r, 4096), ...(quoted.length ? { quoted } : {}) };
}

/** Dead letters into the sink itself, bisecting refused ones; returns the outage that stopped them, if any. */
export async function storeLetters(store: WriterSink, kind: string, letters: DeadLetter[], onEvent?: (e: WriterEvent) => void): Promise<Error | undefined> {
  const write = store.writeDeadLetters?.bind(store);
  if (!write) return new StoreUnavailableError(`the ${kind} store keeps no dead letters and no other store was given for them`);
  const stack: DeadLetter[][] = [letters];
  while (stack.length) {
    const part = stack.pop()!;
    try {
      await write(part);
      continue;
    } catch (e) {
      const err = asError(e);
      if (err instanceof StoreUnavailableError) return err;
      if (part.length > 1) {
        const mid = part.length >> 1;
        stack.push(part.slice(mid), part.slice(0, mid));
        continue;
      }
      // A dead letter refused for its text: kept without the payload, which is what a store cannot take.
      const bare = { ...part[0], payload: '', reason: `${part[0].reason} (payload not kept: ${err.message})`.slice(0, 4096) };
      try {
        await write([bare]);
      } catch (e2) {
        if (e2 instanceof StoreUnavailableError) return e2;
        // Nothing of it can be stored; reporting it is all that is left.
        onEvent?.({ type: 'rejected', count: 0, devices: [part[0].device], codes: [part[0].code], error: `a dead letter could not be stored: ${asError(e2).message}` });
      }
    }
  }
  return undefined;
}
