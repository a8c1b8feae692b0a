/**
 * upperstack-alert-list: the active alerts of the deployed alert node as table
 * rows (output 1, whenever the list changes), each with an "Acknowledge" cell
 * for a Dashboard 2 table's button column. A message with an alert (the row a
 * button sends back, or `{id}`) acknowledges it as the dashboard user; the
 * outcome goes to output 2 as a sentence for a notification widget.
 */
import type { Node, NodeAPI } from 'node-red';
import { ConfigError, describeError, UpperstackError } from '../lib/errors';
import type { AlertRecord, AlertState } from '../lib/rules/types';
import { serviceFor } from '../shared/alerts';
import { migrate, registerNode } from '../shared/config';
import { dashboardUser, mayDo } from '../shared/dashboard';
import { onClose, onInput, type UpperstackMessage } from '../shared/input';
import { setStatus } from '../shared/status';
import { ALERT_LIST_STATES, alertListMigrations, type AlertListNodeDef, type AlertListOptions } from './options';

const SEVERITY_ORDER: Record<string, number> = { critical: 0, warning: 1, info: 2 };

interface AlertRow {
  id: string;
  severity: string;
  state: AlertState;
  device: string;
  rule: string;
  message: string;
  since: string;
  value: string;
  /** "olga, 2026-10-05T06:00:00.000Z": both in one text cell, as tables made before acknowledgedBy/At show it. */
  acknowledged: string;
  acknowledgedBy: string;
  /** ISO, like `since`: a table's datetime column shows both in the viewer's locale and zone. */
  acknowledgedAt: string;
  ack: string;
}

export = function register(RED: NodeAPI): void {
  function UpperstackAlertListNode(this: Node, def: AlertListNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<AlertListOptions>(def as unknown as Record<string, unknown>, alertListMigrations);
    const states = config.states.split(',').map((s) => s.trim()).filter(Boolean) as AlertState[];
    if (!states.length || states.some((s) => !(ALERT_LIST_STATES as readonly string[]).includes(s)) || !(config.interval >= 0.5 && config.interval <= 3600) || !(Number.isInteger(config.maxRows) && config.maxRows >= 1 && config.maxRows <= 10_000)) {
      const err = new ConfigError(RED._('upperstack-alert-list.errors.config'));
      setStatus(node, 'failed', err.message);
      node.error(err.message);
      return;
    }
    const svc = serviceFor(RED);
    const ackLabel = RED._('upperstack-alert-list.button.ack');
    let last = '';
    let attached = true;

    const rowOf = (a: AlertRecord): AlertRow => ({
      id: a.id,
      severity: a.severity,
      state: a.state,
      device: a.device,
      rule: a.ruleName || a.rule,
      message: a.message,
      since: new Date(a.since).toISOString(),
      value: a.value === undefined ? '' : String(a.value),
      acknowledged: a.acknowledged ? `${a.acknowledged.by}, ${new Date(a.acknowledged.ts).toISOString()}` : '',
      acknowledgedBy: a.acknowledged?.by ?? '',
      acknowledgedAt: a.acknowledged ? new Date(a.acknowledged.ts).toISOString() : '',
      ack: a.state === 'firing' && !a.acknowledged ? ackLabel : '✓',
    });

    const look = (force = false) => {
      const engine = svc.attached?.engine;
      if (!engine) {
        if (attached) setStatus(node, 'warning', RED._('upperstack-alert-list.status.noAlertNode'));
        attached = false;
        return;
      }
      attached = true;
      const rows = engine
        .alerts({ state: states })
        .sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) || b.since - a.since)
        .slice(0, config.maxRows)
        .map(rowOf);
      const key = JSON.stringify(rows);
      if (key === last && !force) return;
      last = key;
      node.send([{ _msgid: RED.util.generateId(), topic: 'alerts', payload: rows } as UpperstackMessage, null]);
      // A string count: a number makes i18next resolve plural forms (there are none) through ICU (docs/performance.md, Memory).
      setStatus(node, rows.length ? 'warning' : 'connected', RED._('upperstack-alert-list.status.active', { count: String(rows.length) }));
    };
    const timer = setInterval(look, config.interval * 1000);
    const first = setTimeout(() => look(true), 500);

    onInput(node, (msg, send, done) => {
      const p = msg.payload as { id?: unknown } | string | undefined;
      const id = typeof p === 'string' ? p : typeof p?.id === 'string' ? p.id : undefined;
      if (!id) {
        // Anything else asks for the list now (a dashboard page opened, an inject).
        look(true);
        return done();
      }
      const user = dashboardUser(msg);
      const reply = (text: string) => send([null, { _msgid: RED.util.generateId(), topic: 'ack', payload: text, _client: msg._client } as UpperstackMessage]);
      try {
        if (user && !mayDo(user, 'upperstack-alert.ack')) throw new UpperstackError('CONFIG_INVALID', RED._('upperstack-alert-list.errors.forbidden', { user: user.username }), { status: 403, reason: 'FORBIDDEN', permission: 'upperstack-alert.ack' });
        const by = user?.username ?? 'dashboard';
        svc.acknowledge(id, by, undefined, { actor: by, via: 'dashboard' });
        reply(RED._('upperstack-alert-list.notify.acked', { id, by }));
        look(true);
        done();
      } catch (err) {
        reply(describeError(err).message);
        done(err instanceof Error ? err : new Error(String(err)));
      }
    });

    onClose(node, () => {
      clearInterval(timer);
      clearTimeout(first);
    });
  }

  registerNode(RED, 'upperstack-alert-list', UpperstackAlertListNode);
};
