/**
 * upperstack-alert: judges readings against the runtime's alert rules and sends
 * every transition (pending → firing → acknowledged → cleared, escalations,
 * reminders, flapping) out of output 2, the ones to tell someone about out of
 * output 1, on upperstack/alerts/<device>, as a row in the store, and through
 * the built-in notifications. It sits on a branch after the store: it never
 * settles a message. Rules live in the data folder and change without a deploy
 * (API, /upperstack/alerts, this node's dialog); engine state survives restarts,
 * redeploys and kill -9 (append-only log + snapshots in <data>/alerts/state).
 */
import type { Node, NodeAPI } from 'node-red';
import mqtt, { type MqttClient } from 'mqtt';
import { RuleEngine } from '../lib/rules/engine';
import { StateLog } from '../lib/rules/persist';
import { Notifier, type NotifierOptions } from '../lib/rules/notify';
import { NotifyOutbox, type Channel } from '../lib/rules/notify-outbox';
import type { AlertEvent } from '../lib/rules/types';
import { ConfigError, describeError, InvalidReadingError } from '../lib/errors';
import { topicLevel } from '../lib/deadletter';
import { onClose, onInput, type UpperstackMessage } from '../shared/input';
import { ownTopics } from '../shared/own-topics';
import { readingsOf } from '../shared/batch';
import { migrate, registerNode } from '../shared/config';
import { setStatus, throttledStatus } from '../shared/status';
import { findBroker } from '../shared/runtime';
import type { StoreConfigNode } from '../store-config/options';
import { alertMigrations, recipients, type AlertCredentials, type AlertNodeDef, type AlertOptions } from './options';
import { serviceFor } from './service';
import { alertRows } from './rows';
import { registerAlertRoutes } from './routes';
import { registerEventSource } from '../lib/report/sources';
import { storedAlerts } from '../lib/report/alert-events';
import type { EngineState } from '../lib/rules/engine';
import { deviceStates } from '../shared/device-state';
import { Outbox } from '../lib/cluster/outbox';
import { join } from 'node:path';
import { endClient, within } from '../lib/mqtt/end';

const TICK_MS = 1000;
/** Longest a transition waits for its cluster checkpoint (a broker that is down): then it goes out all the same. */
const GATE_MS = 5000;

/** The checkpoint confirmed within ms; else fails with the gate's own error, or with the wait's end. */
async function checkpointed(p: Promise<void>, ms: number): Promise<void> {
  let failure: unknown;
  const watched = p.catch((err: unknown) => {
    failure = err;
    throw err;
  });
  if (!(await within(watched, ms))) throw failure ?? new Error(`no checkpoint within ${ms / 1000} s`);
}
const SNAPSHOT_MS = 10_000;

export = function register(RED: NodeAPI): void {
  function UpperstackAlertNode(this: Node<AlertCredentials>, def: AlertNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<AlertOptions>(def as unknown as Record<string, unknown>, alertMigrations);
    const svc = serviceFor(RED);
    if (svc.attached && svc.attached.node !== node) {
      const err = new ConfigError(RED._('upperstack-alert.errors.another', { id: svc.attached.node.id }));
      setStatus(node, 'failed', RED._('upperstack-alert.status.another'));
      node.error(err.message);
      onInput(node, (_msg, _send, done) => done(err));
      return;
    }
    const storeNode = config.store ? (RED.nodes.getNode(config.store) as StoreConfigNode | null) : null;
    const status = throttledStatus(node);
    const creds = node.credentials ?? {};

    let engine: RuleEngine;
    let log: StateLog;
    // Notifications not yet accepted by their receivers, on disk (README, "Alerts"): sent again after a restart.
    let unsent: NotifyOutbox;
    try {
      engine = new RuleEngine(svc.rules.list());
      log = new StateLog(svc.dir);
      const saved = log.load();
      if (saved) engine.importState(saved);
      unsent = new NotifyOutbox(join(svc.dir, 'alerts', 'outbox'), {}, (ch, e, reason) => node.warn(RED._('upperstack-alert.errors.dropped', { channel: ch, alert: e.id, key: e.key ?? '', reason })));
    } catch (err) {
      setStatus(node, 'failed', describeError(err).message);
      node.error(RED._('upperstack-alert.errors.state', { message: describeError(err).message }));
      return;
    }
    for (const p of svc.rules.problems) node.warn(p);

    let client: MqttClient | undefined;
    const channels: NotifierOptions = {
      onError: (ch, err, e) => node.warn(RED._('upperstack-alert.errors.notify', { channel: ch, alert: e.id, message: err.message })),
    };
    if (config.emailEnabled) {
      channels.email = { host: config.smtpHost, port: config.smtpPort, secure: config.smtpSecure, user: creds.smtpUser, password: creds.smtpPassword, from: config.emailFrom, to: recipients(config.emailTo) };
    }
    if (config.webhookEnabled && config.webhookUrl) channels.webhook = { url: config.webhookUrl, token: creds.webhookToken, attempts: config.webhookAttempts };
    if (config.mqttEnabled) {
      const url = config.mqttUrl.trim();
      if (url) {
        client = mqtt.connect(url, { username: creds.mqttUsername || undefined, password: creds.mqttPassword || undefined, clientId: `upperstack_alert_${node.id.replace(/[^a-zA-Z0-9]/g, '').slice(0, 12)}`, reconnectPeriod: 5000 });
        client.on('error', (err) => node.warn(RED._('upperstack-alert.errors.mqtt', { url, message: err.message })));
      }
      channels.mqtt = {
        topic: config.mqttTopic || 'upperstack/notifications/{device}',
        publish: async (topic, payload) => {
          if (client) {
            await client.publishAsync(topic, payload, { qos: 1 });
            return;
          }
          const b = findBroker(config.broker || undefined);
          if (!b) throw new Error('no embedded broker to publish on');
          await b.publish(topic, Buffer.from(payload), 1);
        },
      };
    }
    for (const ch of ['email', 'webhook', 'mqtt'] as Channel[]) {
      if (channels[ch]) continue;
      const n = unsent.discard(ch);
      if (n) node.warn(RED._('upperstack-alert.errors.channelOff', { count: n, channel: ch }));
    }
    channels.queue = unsent;
    channels.onRecovered = () => showStatus(true);
    channels.onSent = () => showStatus();
    const notifier = new Notifier(channels);
    let brokerWarned = false;
    let snapshotDue = false;

    /** Sends transitions on; `notify` false: the notifications are queued already. */
    function deliver(events: AlertEvent[], notify = true): void {
      const all: UpperstackMessage[] = [];
      const tell: UpperstackMessage[] = [];
      const prefix = config.topic || 'upperstack/alerts';
      const broker = findBroker(config.broker || undefined);
      for (const e of events) {
        const topic = `${prefix}/${topicLevel(e.device)}`;
        const msg = { _msgid: RED.util.generateId(), topic, device: e.device, payload: e } as UpperstackMessage;
        all.push(msg);
        if (e.notify) tell.push({ ...msg, _msgid: RED.util.generateId() } as UpperstackMessage);
        if (broker) {
          broker.publish(topic, Buffer.from(JSON.stringify(e)), 1).catch((err: Error) => node.warn(RED._('upperstack-alert.errors.publish', { topic, message: err.message })));
        } else if (!brokerWarned) {
          brokerWarned = true;
          node.warn(RED._('upperstack-alert.errors.noBroker'));
        }
      }
      if (notify) notifier.send(events);
      if (storeNode?.writer) {
        storeNode.writer.write(alertRows(events), (err) => {
          if (err) node.warn(RED._('upperstack-alert.errors.store', { message: err.message }));
        });
      }
      node.send([tell.length ? tell : null, all] as unknown as UpperstackMessage[]);
    }

    // On a cluster member the partition node holds a gate: transitions go out once the state that
    // has them is checkpointed for the member that may take the devices over (docs/scaling.md).
    const states = deviceStates(RED);
    const stateKey = `upperstack-alert:${node.id}`;
    let delivering: Promise<void> = Promise.resolve();
    // Transitions between their checkpoint and their send; they go with the devices' state to the next owner.
    const outbox = new Outbox<AlertEvent>();
    // Test hook of test/integration/cluster-outbox.test.ts: the process dies (SIGKILL) between the broker's
    // confirmation of the checkpoint and the send of a transition of this rule.
    const killBeforeSend = process.env.UPPERSTACK_TEST_KILL_BEFORE_SEND;

    /** Sends what is still in the outbox of `events`, then lets a checkpoint record it as sent. */
    function sendOut(events: AlertEvent[]): void {
      const still = events.filter((e) => outbox.has(e));
      if (!still.length) return;
      deliver(still);
      outbox.sent(still);
      showStatus();
      const gate = states.gate;
      if (gate) {
        gate(stateKey, [...new Set(still.map((e) => e.device))]).catch(() => undefined);
      }
    }

    /** Engine work, then its transitions: on disk first (survives kill -9), then out. */
    function run(work: () => AlertEvent[]): AlertEvent[] {
      const events = work();
      const changes = engine.takeChanges(false);
      // A single instance: the notifications go into the outbox (fsync'd) before the state log has their
      // transitions, so no kill -9 finds a transition recorded and its notification not. (A cluster member's
      // go there once the checkpoint that has them is confirmed.)
      const gated = !!states.gate;
      if (!gated && events.length) notifier.send(events);
      if (log.append(changes, events)) snapshotDue = true;
      if (events.length) {
        const gate = states.gate;
        if (gated && gate) {
          const devices = [...new Set(events.map((e) => e.device))];
          outbox.add(events);
          delivering = delivering
            .then(() => checkpointed(gate(stateKey, devices), GATE_MS))
            .catch((err: unknown) => node.warn(RED._('upperstack-alert.errors.checkpoint', { message: describeError(err).message })))
            .then(() => {
              if (killBeforeSend && events.some((e) => e.rule === killBeforeSend && e.notify && outbox.has(e))) process.kill(process.pid, 'SIGKILL');
              sendOut(events);
            });
        } else {
          deliver(events, false);
          showStatus();
        }
      }
      return events;
    }

    const unregisterState = states.register({
      key: stateKey,
      exportDevices: async (keep) => ({ ...engine.exportDevices(keep), outbox: outbox.export(keep) }),
      importDevices: async (state) => {
        const s = state as EngineState;
        engine.importDevices(s);
        if (log.append(engine.takeChanges(false))) snapshotDue = true;
        // What the previous owner had to send and may not have sent: sent from here, with the same keys.
        const ids = new Set<string>([...(s.devices ?? []).map((d) => d.id), ...(s.records ?? []).map((r) => r.device), ...(s.slots ?? []).map((x) => x.d)]);
        const pending = Outbox.read<AlertEvent>(state);
        for (const e of pending) ids.add(e.device);
        outbox.forget((d) => ids.has(d));
        outbox.add(pending);
        // Not awaited: the take-over that imports this is what a send's checkpoint would wait for.
        if (pending.length) delivering = delivering.then(() => sendOut(pending));
        showStatus(true);
      },
      forgetDevices: async (drop) => {
        outbox.forget(drop);
        if (engine.forgetDevices(drop) && log.append(engine.takeChanges(false))) snapshotDue = true;
        showStatus(true);
      },
    });

    function showStatus(force = false): void {
      const s = engine.stats();
      const waiting = unsent.size;
      const text = RED._('upperstack-alert.status.watching', { rules: s.rules, active: s.active }) + (waiting ? RED._('upperstack-alert.status.waiting', { count: waiting }) : '');
      if (force) setStatus(node, s.active ? 'warning' : 'connected', text);
      else status(s.active ? 'warning' : 'connected', text);
    }

    svc.attached = { node, engine, run, store: storeNode?.store };
    const unsubscribe = svc.rules.onChange((c) => {
      run(() => (c.type === 'upsert' ? engine.upsertRule(c.rule) : engine.removeRule(c.id)));
      showStatus(true);
    });
    showStatus(true);

    let lastSnapshot = Date.now();
    const timer = setInterval(() => {
      try {
        // A cluster member judges silences of the devices of its own partitions only.
        run(() => engine.tick(undefined, states.owns));
        // Durations that moved without a transition, once a second rather than per reading.
        if (log.append(engine.takeChanges(true))) snapshotDue = true;
        log.sync();
        if (snapshotDue || Date.now() - lastSnapshot >= SNAPSHOT_MS) {
          log.snapshot(engine.exportState());
          lastSnapshot = Date.now();
          snapshotDue = false;
        }
      } catch (err) {
        setStatus(node, 'failed', describeError(err).message);
        node.error(RED._('upperstack-alert.errors.state', { message: describeError(err).message }));
      }
    }, TICK_MS);
    timer.unref?.();

    onInput(node, (msg, _send, done) => {
      const readings = readingsOf(msg);
      if (!readings) return done(new InvalidReadingError('msg.payload must be a Reading {device, ts, fields, tags} or an array of them; put the alert node after a store or anomaly node'));
      run(() => engine.process(readings));
      // Alerts ride on a branch after the store: this node never settles the journal entry.
      done();
    });

    // Reports count "alerts raised" from the rows this node writes to its store.
    const unregisterSource = storeNode?.store ? registerEventSource('alerts', storedAlerts(storeNode.store)) : () => undefined;
    // API keys that may not see sensitive fields get alert values masked on these topics, whatever they are.
    const forgetTopics = [ownTopics.add('alert', `${config.topic || 'upperstack/alerts'}/{device}`)];
    if (config.mqttEnabled) forgetTopics.push(ownTopics.add('alert', config.mqttTopic || 'upperstack/notifications/{device}'));

    onClose(node, async (removed) => {
      for (const forget of forgetTopics) forget();
      unregisterSource();
      unregisterState();
      await delivering;
      clearInterval(timer);
      unsubscribe();
      if (svc.attached?.node === node) svc.attached = undefined;
      try {
        log.append(engine.takeChanges(true));
        log.snapshot(engine.exportState());
      } finally {
        log.close();
      }
      await notifier.close(removed ? 0 : 3000);
      unsent.close();
      if (client) await endClient(client);
    });
  }

  registerNode(RED, 'upperstack-alert', UpperstackAlertNode, {
    credentials: {
      smtpUser: { type: 'text' },
      smtpPassword: { type: 'password' },
      webhookToken: { type: 'password' },
      mqttUsername: { type: 'text' },
      mqttPassword: { type: 'password' },
    },
  });
  registerAlertRoutes(RED);
};
