/**
 * For the node tests of receipts across a flow graph (fanout*.test.ts, store-flow-built.test.ts): an
 * upperstack-mqtt-in node fed by a stand-in for the embedded broker, so a test
 * decides when each message arrives, in front of whatever nodes the test wires
 * after it; the journal entries still pending; the decode, validate and store
 * nodes and DuckDB store configs such a graph is made of.
 */
import helper from 'node-red-node-test-helper';
import { registerBroker, unregisterBroker, type EmbeddedBroker, type InProcessPacket } from '../../nodes/shared/runtime';
import { intakeStats } from '../../nodes/lib/ingest/intake';
import { useTestRuntime } from './node-red';

type Deliver = (p: InProcessPacket, ack: () => void) => void;

/** An embedded broker that delivers only what the test hands it. */
export function fakeBroker(id: string): EmbeddedBroker & { deliver: Deliver } {
  let deliver: Deliver | undefined;
  return {
    id,
    subscribe(_filter, d) {
      deliver = d;
      return () => (deliver = undefined);
    },
    publish: async () => undefined,
    listening: () => true,
    addresses: () => ({ tcp: 0 }),
    deliver: (p, ack) => {
      if (!deliver) throw new Error('mqtt-in has not subscribed');
      deliver(p, ack);
    },
  };
}

/** A device's telemetry: a string as it is, anything else as JSON. */
export const telemetry = (device: string, body: unknown): InProcessPacket => ({
  topic: `devices/${device}/telemetry`,
  payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  qos: 1,
  retain: false,
});

/** Journal entries of the input `id` not settled yet. */
export const pendingOf = (id: string): number | undefined => intakeStats().find((s) => s.id === id)?.pending;

/* eslint-disable @typescript-eslint/no-require-imports */
/** The node modules of mqtt-in → decode → validate → store (and its config); a test adds the others it wires. */
export const receiptsNodes = [
  require('../../nodes/mqtt-in/mqtt-in'),
  require('../../nodes/decode/decode'),
  require('../../nodes/validate/validate'),
  require('../../nodes/store-config/store-config'),
  require('../../nodes/store/store'),
] as unknown[];
/* eslint-enable @typescript-eslint/no-require-imports */

/** Nodes `decode` → `validate` → `next` on tab `tab`, the failures of both to `dead` (unwired without one). */
export function decodeAndValidate(next: string[], dead?: string): Array<Record<string, unknown>> {
  const failed = dead ? [dead] : [];
  return [
    { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['validate'], failed] },
    { id: 'validate', type: 'upperstack-validate', z: 'tab', schemaSource: 'default', configVersion: 1, wires: [next, failed] },
  ];
}

/** A store node `id` on tab `tab` writing to store config `config`, its output unwired. */
export function storeNode(id: string, config: string): Record<string, unknown> {
  return { id, type: 'upperstack-store', z: 'tab', store: config, configVersion: 1, wires: [[]] };
}

/**
 * A store config with one DuckDB sink that writes once `writeAt` readings wait (or after `flushMs`):
 * a write starts at a quarter of the batch size.
 */
export function duckStoreConfig(id: string, path: string, writeAt: number, flushMs: number): Record<string, unknown> {
  return { id, type: 'upperstack-store-config', sinks: [{ id: 'main', kind: 'duckdb', path, memoryLimit: 64 }], batchSize: writeAt * 4, flushMs, configVersion: 3 };
}

/**
 * Call inside a describe block: a test runtime (useTestRuntime) whose `load`
 * deploys tab `tab` with an mqtt-in node on a new stand-in broker, wired as
 * `inWires`, and the nodes of `rest`; it returns the mqtt-in node's id.
 * `deliver` hands that broker a device's telemetry.
 */
export function useReceiptsGraph(prefix: string, nodes: unknown[]) {
  let broker: ReturnType<typeof fakeBroker> | undefined;
  let n = 0;
  const { dataDir } = useTestRuntime(prefix, { afterEachTest: () => broker && unregisterBroker(broker) });
  return {
    dataDir,
    /** Which load this is (1, 2, ...): for file names of their own. */
    serial: () => n,
    async load(rest: Array<Record<string, unknown>>, inWires: string[][]): Promise<string> {
      broker = fakeBroker(`fake-${prefix}${++n}`);
      registerBroker(broker);
      const inId = `in-${n}`;
      await helper.load(nodes, [
        { id: 'tab', type: 'tab', label: 'test' },
        { id: inId, type: 'upperstack-mqtt-in', z: 'tab', source: 'embedded', broker: broker.id, topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 3, coalesce: true, highWater: 0, lowWater: 0, journalBudgetMb: 64, wires: inWires },
        ...rest,
      ]);
      return inId;
    },
    deliver(device: string, body: unknown): void {
      if (!broker) throw new Error('load a flow first');
      broker.deliver(telemetry(device, body), () => undefined);
    },
  };
}
