/** Options of upperstack-simulate, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import { DEFAULT_LIMITS } from '../lib/limits';
import { devicePrefixProblem, mqttTopicProblem, type TopicProblem } from '../lib/sim/transports';
import type { Migration } from '../shared/config';

export type SimulateTarget = 'embedded' | 'mqtt' | 'http' | 'coap' | 'output';
export const SIMULATE_TARGETS: readonly SimulateTarget[] = ['embedded', 'mqtt', 'http', 'coap', 'output'];

/** The targets whose messages carry the topic: published over MQTT, or leaving output 1 for an MQTT out node. */
export const TOPIC_TARGETS: readonly SimulateTarget[] = ['embedded', 'mqtt', 'output'];

/** The targets that send over MQTT, where nothing answers "too large": batches are cut to `maxBytes` before they go. */
export const MQTT_TARGETS: readonly SimulateTarget[] = ['embedded', 'mqtt'];

/**
 * Why the node's prefix and topic cannot form a topic a device may publish to
 * (as `upperstack simulate` refuses them), or undefined; the editor's
 * validators of both fields say the same.
 */
export function simulateTopicProblem(c: Pick<SimulateOptions, 'target' | 'topic' | 'prefix'>): TopicProblem | undefined {
  // An empty prefix runs as the default one.
  const prefix = c.prefix || SIMULATE_DEFAULTS.prefix;
  const names = { prefix: 'prefix', topic: 'topic' };
  return TOPIC_TARGETS.includes(c.target) ? mqttTopicProblem(c.topic, prefix, names) : devicePrefixProblem(prefix, names);
}

export interface SimulateOptions {
  name: string;
  /** 1 to 10,000. */
  devices: number;
  /** Reports per device, e.g. "1/s", "10/min". */
  rate: string;
  /** Reports per smart plug, e.g. "2/s". */
  plugRate: string;
  /** Profile shares, e.g. "env:70,motion:15,plug:15". */
  mix: string;
  /** Injected anomalies per simulated hour over the fleet; 0 for none. */
  anomalies: number;
  /** Comma-separated kinds: spike, shift, drift, stuck, dropout. */
  anomalyKinds: string;
  seed: number;
  /** Simulated time to run, e.g. "10m"; empty runs until stopped. */
  duration: string;
  target: SimulateTarget;
  /** The embedded broker node (target "embedded"); empty for the only one. */
  broker: string;
  /** mqtt://, http:// or coap:// URL (targets mqtt, http, coap). */
  url: string;
  codec: string;
  /** MQTT topic; {device} is the device id. */
  topic: string;
  prefix: string;
  /** Start on deploy; otherwise on a "start" message. */
  autoStart: boolean;
  /**
   * Add the devices to this runtime's device registry (the deployed devices node; a device there already
   * gets a new secret) and log each one in as itself, instead of the login below.
   */
  register: boolean;
  /** MQTT targets: the largest message in bytes, the decode node's size limit; a larger batch goes as several messages. */
  maxBytes: number;
  configVersion: number;
}

export interface SimulateCredentials {
  username?: string;
  password?: string;
  token?: string;
}

export interface SimulateNodeDef extends NodeDef, SimulateOptions {}

export const SIMULATE_DEFAULTS: Omit<SimulateOptions, 'name' | 'configVersion'> = {
  devices: 20,
  rate: '1/s',
  plugRate: '2/s',
  mix: 'env:70,motion:15,plug:15',
  anomalies: 12,
  anomalyKinds: 'spike,shift,drift,stuck,dropout',
  seed: 1,
  duration: '',
  target: 'embedded',
  broker: '',
  url: '',
  codec: 'json',
  topic: 'devices/{device}/telemetry',
  prefix: 'sim-',
  autoStart: true,
  register: false,
  maxBytes: DEFAULT_LIMITS.maxBytes,
};

export const simulateMigrations: ReadonlyArray<Migration<SimulateOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, numbers as numbers.
  (old) => {
    const o = { ...SIMULATE_DEFAULTS, ...old };
    return { ...o, devices: Number(o.devices), anomalies: Number(o.anomalies), seed: Number(o.seed), autoStart: String(o.autoStart) !== 'false' };
  },
  // v1 → v2: registering the devices in the device registry, off unless set.
  (old) => ({ ...old, register: old.register === true || old.register === 'true' }),
  // v2 → v3: the largest MQTT message, the decode node's default limit (1 MiB) that v2 always kept to.
  (old) => ({ ...old, maxBytes: old.maxBytes === undefined || old.maxBytes === '' ? DEFAULT_LIMITS.maxBytes : Number(old.maxBytes) }),
];
