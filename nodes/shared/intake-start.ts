/**
 * How every input node (MQTT, HTTP, CoAP) starts its intake: the journal in
 * the data folder under the node's id, opened at deploy, registered with
 * /metrics (messages received by protocol, the journal's levels, the node's
 * count), and what the last run left unsettled sent on once the flows have
 * started. The log text is the node's own `<type>.log.replay`.
 */
import { join } from 'node:path';
import type { Node, NodeAPI } from 'node-red';
import { Intake, type IntakeOptions } from '../lib/ingest/intake';
import { describeError } from '../lib/errors';
import { registerInput } from '../lib/metrics/pipeline';
import { dataDir } from './runtime';
import { setStatus } from './status';

export interface StartedIntake {
  readonly intake: Intake;
  /** Drops the pending replay (idempotent); close() does it too. */
  stopReplay(): void;
  /** Drops the pending replay and closes the intake; stop the transport first. */
  close(): void;
}

/**
 * Opens the node's intake and schedules the replay; when the journal cannot
 * be opened, sets a red status, logs and returns undefined.
 */
export function startIntake(RED: NodeAPI, node: Node, opts: Omit<IntakeOptions, 'id' | 'dir'>): StartedIntake | undefined {
  const intake = new Intake({ ...opts, id: node.id, dir: join(dataDir(RED), 'journal', node.id) });
  try {
    const count = intake.open();
    if (count) node.log(RED._(`${node.type}.log.replay`, { count }));
  } catch (err) {
    setStatus(node, 'failed', describeError(err).message);
    node.error(describeError(err).message);
    return undefined;
  }
  // Downstream nodes must exist before the replay is sent: at flows:started, or after a second
  // when this node was started on its own (a partial deploy does not always emit the event).
  // Intake.replay() sends once; a later call does nothing.
  const doReplay = () => intake.replay();
  RED.events.once('flows:started', doReplay);
  const replayTimer = setTimeout(doReplay, 1000);
  const stopReplay = () => {
    clearTimeout(replayTimer);
    RED.events.removeListener('flows:started', doReplay);
  };
  // Read only when /metrics is scraped: nothing on the hot path. The protocol label comes from the node type.
  const stopMetrics = registerInput(node.id, { type: node.type, name: (node as Node & { name?: string }).name ?? '', stats: () => intake.stats() });
  return {
    intake,
    stopReplay,
    close: () => {
      stopReplay();
      stopMetrics();
      intake.close();
    },
  };
}
