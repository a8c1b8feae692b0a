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
import { downstreamOf, type FlowNode } from '../lib/ingest/graph';
import { describeError } from '../lib/errors';
import { registerInput } from '../lib/metrics/pipeline';
import { onFlowsStarted, type DeployEvent } from './deploy-events';
import { onClose } from './input';
import { dataDir, registerHealth } from './runtime';
import { setStatus } from './status';

export interface StartedIntake {
  readonly intake: Intake;
  /** Drops the pending replay (idempotent); close() does it too. */
  stopReplay(): void;
  /** Drops the pending replay and closes the intake; stop the transport first. */
  close(): void;
}

/** How often an input that answers requests tries again to open a journal it could not open. */
export const JOURNAL_REOPEN_MS = 5000;

/**
 * Opens the node's intake and schedules the replay. When the journal cannot be opened, sets a red status,
 * logs, fails /health under the journal's name and returns undefined; with `reopen` (the HTTP and CoAP
 * inputs, which answer every request) it returns the intake instead, which refuses every request with why
 * (503/5.03, BACKPRESSURE) while the journal is tried again every JOURNAL_REOPEN_MS, and takes requests
 * from the first time it opens.
 */
export function startIntake(RED: NodeAPI, node: Node, opts: Omit<IntakeOptions, 'id' | 'dir'>, reopen = false): StartedIntake | undefined {
  const intake = new Intake({ ...opts, id: node.id, dir: join(dataDir(RED), 'journal', node.id) });
  const opened = (count: number) => {
    if (count) node.log(RED._(`${node.type}.log.replay`, { count }));
  };
  try {
    opened(intake.open());
  } catch (err) {
    let message = describeError(err).message;
    setStatus(node, 'failed', message);
    node.error(message);
    // The input has no journal in /health's list: it fails under the name its journal would have, rather than
    // /health answering 200 while the input takes nothing.
    const until = reopen ? `it can (it is tried again every ${JOURNAL_REOPEN_MS / 1000} s)` : 'it is deployed again';
    const stopHealth = registerHealth(`journal:${opts.name || node.id}`, node.id, () => ({
      ok: false,
      detail: `the input cannot open its journal, so it takes nothing from devices until ${until}: ${message}`,
      lastError: message,
    }));
    if (!reopen) {
      onClose(node, () => stopHealth());
      return undefined;
    }
    let running: StartedIntake | undefined;
    const timer = setInterval(() => {
      let count: number;
      try {
        count = intake.open();
      } catch (again) {
        message = describeError(again).message;
        return;
      }
      clearInterval(timer);
      stopHealth();
      node.log(RED._(`${node.type}.log.journalOpened`, { dir: join(dataDir(RED), 'journal', node.id) }));
      opened(count);
      running = runIntake(RED, node, intake);
    }, JOURNAL_REOPEN_MS);
    timer.unref();
    return {
      intake,
      stopReplay: () => running?.stopReplay(),
      close: () => {
        clearInterval(timer);
        stopHealth();
        if (running) running.close();
        else intake.close();
      },
    };
  }
  return runIntake(RED, node, intake);
}

/** The replay, the resend after a partial deploy and /metrics of an intake whose journal is open. */
function runIntake(RED: NodeAPI, node: Node, intake: Intake): StartedIntake {
  // Downstream nodes must exist before the replay is sent: at flows:started, or after a second
  // when this node was started on its own (a partial deploy does not always emit the event).
  // Intake.replay() sends once; a later call does nothing.
  const doReplay = () => intake.replay();
  const stopListening = onFlowsStarted(RED, doReplay, true);
  const replayTimer = setTimeout(doReplay, 1000);
  const stopReplay = () => {
    clearTimeout(replayTimer);
    stopListening();
  };
  // A partial deploy ("nodes", "flows") that restarts nodes on this input's way (its store, the store config
  // they share) while this input runs on: what those nodes held, or were sent while they were down, is gone with
  // its entries unsettled, and nothing would send them again before the next start. They go again now.
  const afterDeploy = (ev?: DeployEvent) => {
    if (!ev?.diff || ev.type === 'full') return;
    const d = ev.diff;
    const stopped = [...(d.changed ?? []), ...(d.removed ?? []), ...(ev.type === 'flows' ? [...(d.rewired ?? []), ...(d.linked ?? [])] : [])];
    // This node among them: it is the one just started, and replay() sends what it found.
    if (stopped.length === 0 || stopped.includes(node.id)) return;
    const nodes: FlowNode[] = [];
    (RED.nodes as unknown as { eachNode(cb: (n: FlowNode) => void): void }).eachNode((n) => {
      nodes.push(n);
    });
    const way = downstreamOf(nodes, node.id);
    if (!stopped.some((id) => way.has(id))) return;
    intake.resend().then(
      (count) => {
        if (count) node.log(RED._(`${node.type}.log.resend`, { count }));
      },
      (err: unknown) => node.error(describeError(err).message),
    );
  };
  const stopResend = onFlowsStarted(RED, afterDeploy);
  // Read only when /metrics is scraped: nothing on the hot path. The protocol label comes from the node type.
  const stopMetrics = registerInput(node.id, { type: node.type, name: (node as Node & { name?: string }).name ?? '', stats: () => intake.stats() });
  return {
    intake,
    stopReplay,
    close: () => {
      stopReplay();
      stopResend();
      stopMetrics();
      intake.close();
    },
  };
}
