/**
 * One alert service per runtime (per data folder): the rule set on disk, and
 * the engine of the deployed upperstack-alert node when there is one. The HTTP
 * API, the admin routes (editor dialog, /upperstack/alerts), the alert node and
 * the dashboard's alert list all go through it, so there is one rule set and
 * one set of alerts however they are reached.
 */
import type { Node, NodeAPI } from 'node-red';
import { RuleStore, type Actor } from '../lib/rules/store';
import type { RuleEngine } from '../lib/rules/engine';
import type { AlertEvent, AlertRecord } from '../lib/rules/types';
import type { TimeSeriesStore } from '../lib/store/types';
import { UpperstackError } from '../lib/errors';
import { dataDir } from './runtime';

/** Alerts exist only while an alert node is deployed (rules can be edited without one). */
export function alertsNotDeployed(): UpperstackError {
  return new UpperstackError('CONFIG_INVALID', 'no upperstack-alert node is deployed: alerts are judged by the alert node (rules can be edited without one)', { status: 503, reason: 'NOT_DEPLOYED' });
}

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

  /** Acknowledges a firing alert of the attached engine: the transition goes out as usual and into the audit log. */
  acknowledge(id: string, by: string, note: string | undefined, who: Actor): { alert: AlertRecord | undefined; event: AlertEvent } {
    const a = this.attached;
    if (!a) throw alertsNotDeployed();
    const [event] = a.run(() => [a.engine.acknowledge(id, by, note)]);
    this.rules.recordAck(id, { ...who, actor: by }, note);
    return { alert: a.engine.alert(id), event };
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
