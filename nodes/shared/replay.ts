/**
 * Which open input a dead letter goes back in through: the input node that
 * journaled it (its id travels with the letter), else the one input deployed
 * for the letter's protocol (a flow redeployed with new node ids), or the one
 * the caller names.
 */
import type { NodeAPI } from 'node-red';
import { findIntake, intakeStats } from '../lib/ingest/intake';
import { protocolOf } from '../lib/ingest/record';
import { protocolOf as protocolOfType } from '../lib/metrics/pipeline';
import type { ReplayTarget } from '../lib/api/replay';
import type { DeadLetter } from '../lib/store/types';

function targetOf(id: string): ReplayTarget | undefined {
  const intake = findIntake(id);
  return intake ? { id, submit: (recs) => intake.submit(recs) } : undefined;
}

export function replayTargetFor(RED: NodeAPI, letter: DeadLetter, input?: string): ReplayTarget | string {
  const protocol = protocolOf(letter.source);
  const typeOf = (id: string) => (RED.nodes.getNode(id) as { type?: string } | null)?.type ?? '';
  if (input !== undefined) {
    const t = targetOf(input);
    if (!t) return `no input node with id "${input}" is deployed and open`;
    return t;
  }
  if (letter.input) {
    const t = targetOf(letter.input);
    if (t && protocolOfType(typeOf(letter.input)) === protocol) return t;
  }
  const candidates = intakeStats()
    .map((s) => s.id)
    .filter((id) => protocolOfType(typeOf(id)) === protocol);
  if (candidates.length === 1) return targetOf(candidates[0])!;
  if (candidates.length === 0) return `no ${protocol} input is deployed to take it (it came from ${letter.source.slice(0, 100)})`;
  return `${candidates.length} ${protocol} inputs are deployed and the one that received it is gone; name one with "input"`;
}
