/** upperstack-broker: the embedded MQTT broker as a node in the flow. */
import type { Node, NodeAPI } from 'node-red';
import { EmbeddedMqttBroker } from '../lib/broker/embedded';
import { describeError } from '../lib/errors';
import { unsetEnvName } from '../lib/env-ref';
import { setStatus } from '../shared/status';
import { onClose } from '../shared/input';
import { migrate, parsePort, registerNode } from '../shared/config';
import { brokerMigrations, brokerSetting, type BrokerCredentials, type BrokerNodeDef, type BrokerOptions } from './options';
import { dataDir, registerBroker, registerHealth, unregisterBroker, type EmbeddedBroker } from '../shared/runtime';
import { join } from 'node:path';
import { isLoopback } from '../lib/security/net';
import { brokerAuth, setKeySource } from '../shared/devices';
import { apiKeyInForce } from '../shared/http';
import { onFlowsStarted } from '../shared/deploy-events';

/** `${UPPERSTACK_BIND}` and the like left as they are (env-ref.ts) mean "not set", not a host name. */
function unlessUnresolved(value: string | undefined): string {
  return unsetEnvName(value) ? '' : (value ?? '');
}

/** Offline sessions and what waits for them, for /health. */
function sessionsDetail(b: EmbeddedMqttBroker): string {
  const s = b.stats();
  if (!s) return '';
  return `, ${s.sessions} persistent sessions, ${s.queued} queued messages${s.dropped ? `, ${s.dropped} dropped (queue per session full)` : ''}`;
}

/** The TLS listener's port, when there is one: /health lists every port devices may be told to use. */
function tlsDetail(b: EmbeddedMqttBroker): string {
  return b.addresses.tls ? `, MQTT over TLS on ${b.addresses.tls}` : '';
}

export = function register(RED: NodeAPI): void {
  function UpperstackBrokerNode(this: Node<BrokerCredentials>, def: BrokerNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<BrokerOptions>(def as unknown as Record<string, unknown>, brokerMigrations);
    const bind = unlessUnresolved(config.bind) || process.env.UPPERSTACK_BIND || '127.0.0.1';
    const port = parsePort(unlessUnresolved(config.port), 1883);
    let broker: EmbeddedMqttBroker | undefined;
    let handle: EmbeddedBroker | undefined;
    let stopHealth = () => undefined as void;
    let closing = false;
    const healthName = `broker:${node.name || node.id}`;

    // `npm start` sets UPPERSTACK_MQTT_TLS_CA from UPPERSTACK_HTTPS_CA when it is unset (settings.ts).
    const tlsCa = unlessUnresolved(config.tlsCa) || process.env.UPPERSTACK_MQTT_TLS_CA || undefined;
    const username = node.credentials?.username || process.env.UPPERSTACK_MQTT_USERNAME || undefined;
    setKeySource(() => apiKeyInForce(RED));
    // Refusals are in the audit log; the Node-RED log says it once a minute per client, and the same for
    // what the broker did to a client by its own limits.
    const oncePerMinute = () => {
      const last = new Map<string, number>();
      return (clientId: string): boolean => {
        const now = Date.now();
        if ((last.get(clientId) ?? 0) > now - 60_000) return false;
        if (last.size > 1000) last.clear();
        last.set(clientId, now);
        return true;
      };
    };
    const refusalWarnable = oncePerMinute();
    const warnable = oncePerMinute();
    const onRefused = (clientId: string, what: string, message: string) => {
      if (!refusalWarnable(clientId)) return;
      node.warn(RED._('upperstack-broker.log.refused', { client: clientId, what, message }));
    };
    const refusesAll = !username && !isLoopback(bind);
    const showClients = () => {
      if (!broker) return;
      if (refusesAll) setStatus(node, 'warning', RED._('upperstack-broker.status.noLogin', { bind, port: broker.addresses.tcp }));
      else setStatus(node, 'connected', RED._('upperstack-broker.status.listening', { bind, port: broker.addresses.tcp, clients: broker.clients() }));
    };
    try {
      broker = new EmbeddedMqttBroker(
        {
          port,
          bind,
          wsPort: parsePort(unlessUnresolved(config.wsPort), 0),
          // The node's own TLS settings first, then the environment's (docs/security.md).
          tlsPort: parsePort(unlessUnresolved(config.tlsPort) || process.env.UPPERSTACK_MQTT_TLS_PORT || '', 0),
          tlsKeyFile: unlessUnresolved(config.tlsKey) || process.env.UPPERSTACK_MQTT_TLS_KEY || undefined,
          tlsCertFile: unlessUnresolved(config.tlsCert) || process.env.UPPERSTACK_MQTT_TLS_CERT || undefined,
          tlsCaFile: tlsCa,
          // The environment lets containers set the device login without opening the editor.
          username,
          password: node.credentials?.password || process.env.UPPERSTACK_MQTT_PASSWORD || undefined,
          auth: brokerAuth,
          // Sessions, queued and retained messages and wills outlive a restart or redeploy.
          dataDir: join(dataDir(RED), 'broker', node.id),
          maximumPacketSize: brokerSetting('maxPacketKb', config.maxPacketKb) * 1024,
          receiveMaximum: brokerSetting('receiveMaximum', config.receiveMaximum),
          maxQueued: brokerSetting('maxQueued', config.maxQueued),
          maxBehindBytes: brokerSetting('maxBehindKb', config.maxBehindKb) * 1024,
          owner: `broker "${node.name || node.type}" (${node.id})`,
        },
        {
          onError: (err) => node.error(RED._('upperstack-broker.errors.state', { message: describeError(err).message })),
          onRefused,
          onWillsHeld: (count) => node.warn(RED._('upperstack-broker.log.willsHeld', { count })),
          // A subscriber reconnecting and falling behind again would otherwise fill the log.
          onClientProblem: (clientId, err) => {
            if (!warnable(clientId)) return;
            node.warn(RED._('upperstack-broker.log.clientProblem', { client: clientId, message: err.message }));
          },
          // A device's firmware bug, said once a minute per client like the limits above.
          onProtocolError: (clientId, err) => {
            if (!warnable(clientId)) return;
            node.warn(RED._('upperstack-broker.log.protocolError', { message: err.message }));
          },
          // Said once; the status and /health follow every try, as the holder may change meanwhile.
          onPortInUse: (err, first) => {
            if (closing) return;
            const message = RED._('upperstack-broker.status.portInUse', { message: err.message });
            setStatus(node, 'failed', message);
            if (first) node.error(RED._('upperstack-broker.errors.start', { message }));
            stopHealth();
            stopHealth = registerHealth(healthName, node.id, () => ({ ok: false, detail: message }));
          },
          onPortFree: (freed) => node.log(RED._('upperstack-broker.log.portFree', { bind, port: freed })),
          onClient: (id, connected) => {
            showClients();
            node.send({ topic: connected ? 'connect' : 'disconnect', payload: { clientId: id, connected } });
          },
        },
      );
    } catch (err) {
      const message = describeError(err).message;
      setStatus(node, 'failed', message);
      node.error(RED._('upperstack-broker.errors.config', { message }));
      // A broker that never listens is failing, not absent: /health answers 503 and says why.
      const stop = registerHealth(`broker:${node.name || node.id}`, node.id, () => ({ ok: false, detail: RED._('upperstack-broker.errors.config', { message }) }));
      onClose(node, async () => stop());
      return;
    }
    setStatus(node, 'connecting', RED._('upperstack-broker.status.starting'));
    const b = broker;
    b.start().then(
      () => {
        // Closed while it started (a quick redeploy): its stop follows; registered now, it would stay in /health.
        if (closing) return;
        handle = {
          id: node.id,
          subscribe: (filter, deliver) => b.subscribe(filter, deliver),
          publish: (topic, payload, qos, retain) => b.publish(topic, payload, qos, retain),
          listening: () => b.listening(),
          addresses: () => ({ ...b.addresses }),
          bind,
        };
        registerBroker(handle);
        stopHealth();
        stopHealth = registerHealth(healthName, node.id, () => ({
          ok: b.listening(),
          detail: b.listening() ? `listening on ${bind}:${b.addresses.tcp}${tlsDetail(b)}, ${b.clients()} clients${sessionsDetail(b)}` : 'not listening',
        }));
        showClients();
        node.log(RED._('upperstack-broker.log.listening', { bind, port: b.addresses.tcp }));
        if (b.addresses.tls) node.log(RED._('upperstack-broker.log.listeningTls', { bind, port: b.addresses.tls, certificates: tlsCa ? RED._('upperstack-broker.log.deviceCertificates') : '' }));
        // The broker then refuses every client (see EmbeddedMqttBroker.start); say so once, plainly.
        if (refusesAll) node.warn(RED._('upperstack-broker.log.noLogin', { bind }));
      },
      (err: unknown) => {
        // A stop while the port was in use ends the wait; that is no failure to report.
        if (closing) return;
        stopHealth();
        setStatus(node, 'failed', describeError(err).message);
        node.error(RED._('upperstack-broker.errors.start', { message: describeError(err).message }));
        stopHealth = registerHealth(healthName, node.id, () => ({ ok: false, detail: describeError(err).message }));
      },
    );

    // An MQTT input restarted by a deploy subscribes again before the deploy ends; publishes that waited for one
    // that did not come back (disabled, its topic changed) are routed as they would be now.
    let started = false;
    const deployed = () => {
      b.releaseReturning();
      // The deploy that started this broker is over, so is the device registry in force: the wills the broker
      // restored from the data folder are judged by it (a device removed while the runtime was stopped).
      if (started) return;
      started = true;
      void b.judgeWills();
    };
    const stopDeployed = onFlowsStarted(RED, deployed);

    onClose(node, async () => {
      closing = true;
      stopDeployed();
      stopHealth();
      if (handle) unregisterBroker(handle);
      await b.stop();
    });
  }

  registerNode(RED, 'upperstack-broker', UpperstackBrokerNode, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
