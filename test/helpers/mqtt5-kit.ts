/** What the MQTT 5 scenarios (mqtt5-scenarios*.ts) share: the broker under test, clients, and waiting. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface BrokerUnderTest {
  port: number;
  /** Stops the broker and starts it again on the same port with the same stored state. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface TargetOptions {
  /** Largest packet the broker accepts (advertised in CONNACK). */
  maximumPacketSize?: number;
  /** QoS 1/2 publishes a client may have unacknowledged towards the broker (advertised in CONNACK). */
  receiveMaximum?: number;
  /** Sessions, queued and retained messages kept across restart(). */
  persistent?: boolean;
}

export type StartTarget = (opts: TargetOptions) => Promise<BrokerUnderTest>;

export interface ScenarioOptions {
  /** Scenarios this broker is known not to support, by name, with the reason shown in the test name. */
  unsupported?: Record<string, string>;
}


export interface Got {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  properties?: Record<string, unknown>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long until() waits by default: shorter while a scenario the broker is known not to support
 * runs, which is expected to time out (a shorter wait cannot make it pass wrongly).
 */
let untilMs = 30_000;

export async function until<T>(fn: () => T | undefined, what: string, ms = untilMs): Promise<T> {
  // Monotonic, as eventually() in ./intake: a wall clock that jumps ends a wait before its time.
  const end = performance.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Clients and the scenario runner of one broker under test; each scenario starts a fresh broker. */
export interface ScenarioKit {
  /** The broker of the scenario running now. */
  readonly broker: BrokerUnderTest | undefined;
  /** Clients to end after the scenario. */
  readonly open: MqttClient[];
  client(clientId: string, o?: IClientOptions): Promise<MqttClient>;
  collect(c: MqttClient): Got[];
  /** Connects and collects what arrives from the first packet on, with the CONNACK's session present flag. */
  resume(clientId: string, o?: IClientOptions): Promise<{ c: MqttClient; got: Got[]; sessionPresent: boolean }>;
  /** Drops the network connection without DISCONNECT, as a device losing power does. */
  kill(c: MqttClient): void;
  scenario(title: string, opts: TargetOptions, fn: () => Promise<void>): void;
}

export function scenarioKit(name: string, start: StartTarget, sopts: ScenarioOptions = {}): ScenarioKit {
  const open: MqttClient[] = [];
  let broker: BrokerUnderTest | undefined;

  const client = async (clientId: string, o: IClientOptions = {}) => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker!.port}`, { protocolVersion: 5, clientId, reconnectPeriod: 0, ...o });
    open.push(c);
    return c;
  };
  const collect = (c: MqttClient) => {
    const got: Got[] = [];
    c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain, properties: packet.properties as Record<string, unknown> | undefined }));
    return got;
  };
  /** Connects and collects what arrives from the first packet on, with the CONNACK's session present flag. */
  const resume = async (clientId: string, o: IClientOptions = {}) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${broker!.port}`, { protocolVersion: 5, clientId, reconnectPeriod: 0, ...o });
    open.push(c);
    const got = collect(c);
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      c.once('connect', (p) => resolve(p as { sessionPresent: boolean }));
      c.once('error', reject);
    });
    return { c, got, sessionPresent: connack.sessionPresent };
  };
  /** Drops the network connection without DISCONNECT, as a device losing power does. */
  const kill = (c: MqttClient) => c.stream.destroy();

  const scenario = (title: string, opts: TargetOptions, fn: () => Promise<void>) => {
    const reason = sopts.unsupported?.[title];
    test(`${name}: ${title}${reason ? ` (not supported: ${reason})` : ''}`, async () => {
      broker = await start(opts);
      try {
        if (reason) {
          untilMs = 5_000;
          await assert.rejects(fn(), `${name} was expected to fail "${title}" (${reason}); it passes now, so drop it from the list`);
        } else {
          await fn();
        }
      } finally {
        untilMs = 30_000;
        for (const c of open.splice(0)) c.end(true);
        await broker.stop();
        broker = undefined;
      }
    });
  };

  return {
    get broker() {
      return broker;
    },
    open,
    client,
    collect,
    resume,
    kill,
    scenario,
  };
}
