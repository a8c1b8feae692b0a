/**
 * The MQTT.js options a connection node connects with: its session (persistent
 * or not, MQTT 5 expiry and receive maximum), logging, and its login and TLS
 * files. Built once per connect, at start-up: apart from mqtt-connection.ts,
 * which keeps the message path.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { MqttConnectionNode, MqttConnectionOptions } from './options';

/**
 * MQTT 5 ends a session at disconnect unless the client asks for an expiry, so
 * a persistent connection asks for a week: what the broker holds for it while it
 * restarts (unacknowledged and queued messages) is delivered when it is back.
 */
const SESSION_EXPIRY_S = 7 * 86_400;

/**
 * MQTT.js logs through `debug` about ten times per message it takes in, and each
 * call builds its arguments (a rest array, often an object) even when the
 * logger is off: about a tenth of all the runtime allocated per reading with
 * 10-reading batches on mosquitto.
 * Its own logger stays when DEBUG is set (e.g. DEBUG=mqttjs*).
 */
const quietLog = process.env.DEBUG ? undefined : () => undefined;

/** The login and the TLS files, read at each call. */
export function login(config: MqttConnectionOptions, credentials: MqttConnectionNode['credentials']): IClientOptions {
  return {
    username: credentials?.username || undefined,
    password: credentials?.password || undefined,
    rejectUnauthorized: config.rejectUnauthorized,
    ca: config.ca ? readFileSync(config.ca) : undefined,
    cert: config.cert ? readFileSync(config.cert) : undefined,
    key: config.key ? readFileSync(config.key) : undefined,
  };
}

export function clientOptions(config: MqttConnectionOptions, clientId: string, credentials: MqttConnectionNode['credentials']): IClientOptions {
  return {
    clientId,
    protocolVersion: config.protocolVersion,
    clean: !config.persistent,
    keepalive: config.keepalive,
    ...(config.protocolVersion === 5
      ? {
          properties: {
            ...(config.persistent ? { sessionExpiryInterval: SESSION_EXPIRY_S } : {}),
            ...(config.receiveMaximum > 0 ? { receiveMaximum: config.receiveMaximum } : {}),
          },
        }
      : {}),
    // A broker that is starting ("server unavailable") or whose login is being fixed is tried again like one
    // that is down; a refused version is not (connectRetrying).
    reconnectPeriod: 2000,
    ...(quietLog ? { log: quietLog } : {}),
    ...login(config, credentials),
    // The caller connects once it has replaced the incoming store and handleMessage.
    manualConnect: true,
  };
}
