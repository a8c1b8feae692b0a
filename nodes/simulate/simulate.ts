/**
 * upperstack-simulate: a fleet of simulated devices inside the flow. They send
 * to the embedded broker over MQTT on loopback (as real devices would, through
 * the input's journal and acknowledgement), to any MQTT, HTTP or CoAP URL, or
 * out of output 1 as encoded messages. Output 2 carries each injected anomaly
 * as it starts, labelled, so a flow can compare detections with the truth.
 */
import type { Node, NodeAPI } from 'node-red';
import { CoapTransport, FunctionTransport, HttpTransport, MqttTransport, Simulator, templateCredentials, type Anomaly, type CredentialsHook, type SimulatorOptions, type SimulatorStats, type Transport } from '../lib/sim';
import { registryCredentials } from '../lib/sim/register';
import { deployedDevices } from '../shared/devices';
import { registerInRuntime } from './register';
import { simulatorOptions } from './config';
import { BadMessageError, ConfigError, describeError, UpperstackError } from '../lib/errors';
import { onClose, onInput } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { setStatus, throttledStatus } from '../shared/status';
import { whenBroker, type EmbeddedBroker } from '../shared/runtime';
import { countKey } from '../shared/count-key';
import { simulateMigrations, type SimulateCredentials, type SimulateNodeDef, type SimulateOptions } from './options';

/** Loopback reaches a broker bound to a wildcard or loopback address; otherwise its own address. */
function brokerHost(bind: string | undefined): string {
  if (!bind || bind === '0.0.0.0' || bind === '::' || bind === 'localhost' || bind.startsWith('127.') || bind === '::1') return '127.0.0.1';
  return bind.includes(':') ? `[${bind}]` : bind;
}

function commandOf(payload: unknown): string {
  return typeof payload === 'string' ? payload.trim().toLowerCase() : '';
}

const COMMANDS = ['start', 'stop'] as const;

/** The refusal of a payload that is no command, quoting it as sent (text as it is, anything else as JSON). */
function unknownCommand(RED: NodeAPI, payload: unknown): BadMessageError {
  const shown = typeof payload === 'string' ? payload : (JSON.stringify(payload) ?? String(payload));
  return new BadMessageError(RED._('upperstack-simulate.errors.command', { command: shown.slice(0, 40) }), { property: 'payload', allowed: COMMANDS });
}

/**
 * A deployed node whose settings cannot run refuses with CONFIG_INVALID: the
 * editor's button answers 409 with the reason. Told by its code, so any layer
 * (lib or node) that refuses for the settings gets the same answer.
 */
function isSettingsRefusal(err: unknown): err is UpperstackError {
  return err instanceof UpperstackError && err.code === 'CONFIG_INVALID';
}

/** Running simulate nodes by id, for the editor's button. */
const controls = new Map<string, { toggle(): Promise<boolean> }>();

export = function register(RED: NodeAPI): void {
  RED.httpAdmin.post('/upperstack-simulate/:id/toggle', RED.auth.needsPermission('upperstack-simulate.write'), (req, res) => {
    const c = controls.get(String(req.params.id));
    if (!c) {
      res.status(404).json({ error: { code: 'NOT_DEPLOYED', message: 'this simulate node is not deployed: deploy first' } });
      return;
    }
    c.toggle().then(
      (running) => res.json({ running }),
      (err: unknown) =>
        isSettingsRefusal(err)
          ? res.status(409).json({ error: { code: 'BAD_SETTINGS', message: err.message } })
          : res.status(500).json({ error: { code: 'INTERNAL', message: describeError(err).message } }),
    );
  });

  function UpperstackSimulateNode(this: Node<SimulateCredentials>, def: SimulateNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<SimulateOptions>(def as unknown as Record<string, unknown>, simulateMigrations);
    let options: SimulatorOptions;
    try {
      options = simulatorOptions(config);
    } catch (err) {
      const why = RED._('upperstack-simulate.errors.config', { message: describeError(err).message });
      setStatus(node, 'failed', describeError(err).message);
      node.error(why);
      // Deployed with settings that cannot run: a "start" (message or button) gets the reason
      // instead of nothing happening.
      onInput(node, (msg, _send, done) => {
        const command = commandOf(msg.payload);
        if (command === 'stop') done();
        else if (command === 'start') done(new ConfigError(why));
        else done(unknownCommand(RED, msg.payload));
      });
      const refuse = { toggle: () => Promise.reject(new ConfigError(why)) };
      controls.set(node.id, refuse);
      onClose(node, () => {
        if (controls.get(node.id) === refuse) controls.delete(node.id);
      });
      return;
    }
    const own = node.credentials ?? {};
    const status = throttledStatus(node);
    let sim: Simulator | undefined;
    let closed = false;
    let stopWaiting: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    /** Started, waiting for the embedded broker to listen. */
    let waiting = false;

    /** Secrets of the registered devices (option "register"), filled before the first message. */
    const secrets = new Map<string, string>();
    const registering = config.register && config.target !== 'output';

    const credentialsFor = (broker?: EmbeddedBroker): CredentialsHook => {
      if (registering) return registryCredentials(secrets);
      // Without a login of its own it uses the embedded broker's device login.
      const b = broker ? (RED.nodes.getNode(broker.id) as (Node & { credentials?: { username?: string; password?: string } }) | null) : null;
      const username = own.username || b?.credentials?.username || (broker ? process.env.UPPERSTACK_MQTT_USERNAME : undefined) || undefined;
      const password = own.password || b?.credentials?.password || (broker ? process.env.UPPERSTACK_MQTT_PASSWORD : undefined) || undefined;
      return templateCredentials({ username, password, token: own.token || undefined });
    };

    const makeTransport = (broker?: EmbeddedBroker): Transport => {
      switch (config.target) {
        case 'embedded':
          // A registered device logs in as itself, so it needs a connection of its own.
          return new MqttTransport({ url: `mqtt://${brokerHost(broker!.bind)}:${broker!.addresses().tcp}`, topic: config.topic, credentials: credentialsFor(broker), connections: registering ? 'device' : 4, maxMessageBytes: config.maxBytes });
        case 'mqtt':
          return new MqttTransport({ url: config.url, topic: config.topic, credentials: credentialsFor(), maxMessageBytes: config.maxBytes, ...(registering ? { connections: 'device' as const } : {}) });
        case 'http':
          return new HttpTransport({ url: config.url, credentials: credentialsFor() });
        case 'coap':
          return new CoapTransport({ url: config.url, credentials: credentialsFor() });
        default:
          return new FunctionTransport((device, payload, contentType) => {
            node.send([{ _msgid: RED.util.generateId(), topic: config.topic.split('{device}').join(device.id), device: device.id, payload, contentType, format: config.codec }, null]);
          });
      }
    };

    /** The status key: "10 devices ·", "1 device ·", or "8 running, 2 stopped ·" once the server refused some for good. */
    const fleetKey = (key: string, s: SimulatorStats) => (s.stopped > 0 ? `${key}Stopped` : countKey(key, s.devices));

    const showStatus = () => {
      if (!sim) return;
      const s = sim.stats();
      const fleet = { devices: s.devices, running: s.devices - s.stopped, stopped: s.stopped };
      if (s.errors && s.lastError) status('failed', RED._(fleetKey('upperstack-simulate.status.errors', s), { ...fleet, acked: s.acked, errors: s.errors, error: s.lastError.slice(0, 60) }));
      else status('connected', RED._(fleetKey('upperstack-simulate.status.running', s), { ...fleet, sent: s.sent, acked: s.acked, anomalies: s.anomalies }));
    };

    const stop = async () => {
      waiting = false;
      stopWaiting?.();
      stopWaiting = undefined;
      if (timer) clearInterval(timer);
      timer = undefined;
      const running = sim;
      sim = undefined;
      if (running) {
        await running.stop(2000);
        const s = running.stats();
        if (!closed) setStatus(node, 'idle', RED._('upperstack-simulate.status.stopped', { sent: s.sent, acked: s.acked, errors: s.errors + s.unacked }));
      }
    };

    const start = (broker?: EmbeddedBroker) => {
      if (sim || closed) return;
      let s: Simulator;
      try {
        s = new Simulator(options, makeTransport(broker));
      } catch (err) {
        setStatus(node, 'failed', describeError(err).message);
        node.error(describeError(err).message);
        return;
      }
      sim = s;
      s.on('anomaly', (a: Anomaly) => node.send([null, { _msgid: RED.util.generateId(), topic: `anomaly/${a.device}`, device: a.device, payload: a }]));
      s.on('done', () => {
        if (sim === s) void stop();
      });
      setStatus(node, 'connecting', RED._(registering ? countKey('upperstack-simulate.status.registering', s.devices.length) : 'upperstack-simulate.status.connecting', { devices: s.devices.length }));
      const register = async () => {
        if (!registering) return;
        const rt = deployedDevices();
        if (!rt) throw new Error(RED._('upperstack-simulate.errors.noRegistry'));
        const issued = await registerInRuntime(rt, s.devices.map((d) => d.id), { actor: `node:${node.id}`, cancelled: () => closed || sim !== s });
        for (const [id, secret] of issued) secrets.set(id, secret);
        setStatus(node, 'connecting', RED._('upperstack-simulate.status.connecting'));
      };
      let registered = !registering;
      register()
        .then(() => {
          registered = true;
          // Stopped or closed while registering: nothing to start.
          return closed || sim !== s ? undefined : s.start();
        })
        .then(
          () => {
            if (closed) return void s.stop(0);
            if (sim !== s) return;
            timer = setInterval(showStatus, 1000);
            showStatus();
          },
          (err: unknown) => {
            if (sim === s) sim = undefined;
            setStatus(node, 'failed', describeError(err).message);
            node.error(RED._(registered ? 'upperstack-simulate.errors.connect' : 'upperstack-simulate.errors.register', { message: describeError(err).message }));
          },
        );
    };

    const begin = () => {
      if (config.target !== 'embedded') return start();
      setStatus(node, 'connecting', RED._('upperstack-simulate.status.waiting'));
      stopWaiting?.();
      waiting = true;
      stopWaiting = whenBroker(config.broker, (b) => {
        // Its listener may not be bound yet when the broker registers.
        const ready = () => {
          if (!waiting || closed) return;
          if (!b.listening()) return void setTimeout(ready, 50);
          waiting = false;
          start(b);
        };
        ready();
      });
    };

    if (config.autoStart) begin();
    else setStatus(node, 'idle', RED._('upperstack-simulate.status.ready'));

    onInput(node, async (msg, _send, done) => {
      const command = commandOf(msg.payload);
      if (command === 'start') begin();
      else if (command === 'stop') await stop();
      else return done(unknownCommand(RED, msg.payload));
      done();
    });

    const control = {
      toggle: async () => {
        if (sim || waiting) {
          await stop();
          return false;
        }
        begin();
        return true;
      },
    };
    controls.set(node.id, control);

    onClose(node, async () => {
      if (controls.get(node.id) === control) controls.delete(node.id);
      closed = true;
      await stop();
    });
  }

  registerNode(RED, 'upperstack-simulate', UpperstackSimulateNode, {
    credentials: { username: { type: 'text' }, password: { type: 'password' }, token: { type: 'password' } },
  });
};
