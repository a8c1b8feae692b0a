/**
 * One alert service per runtime (per data folder): the rule set on disk, and
 * the engine of the deployed upperstack-alert node when there is one. The HTTP
 * API, the admin routes (editor dialog, /upperstack/alerts) and the node all go
 * through it, so there is one rule set however it is edited.
 */
import type { Node, NodeAPI } from 'node-red';
import { RuleStore } from '../lib/rules/store';
import type { RuleEngine } from '../lib/rules/engine';
import type { AlertEvent } from '../lib/rules/types';
import type { TimeSeriesStore } from '../lib/store/types';
import { dataDir } from '../shared/runtime';

export interface AttachedEngine {
  node: Node;
  engine: RuleEngine;
  /** Runs engine work and sends its transitions out (persist, store, MQTT, outputs, notifications). */
  run(work: () => AlertEvent[]): AlertEvent[];
  store: TimeSeriesStore | undefined;
}

export class AlertService {
  readonly rules: RuleStore;
  attached: AttachedEngine | undefined;

  constructor(readonly dir: string) {
    this.rules = new RuleStore(dir);
  }
}

const services = new Map<string, AlertService>();

export function serviceFor(RED: NodeAPI): AlertService {
  const dir = dataDir(RED);
  let s = services.get(dir);
  if (!s) {
    s = new AlertService(dir);
    services.set(dir, s);
  }
  return s;
}
