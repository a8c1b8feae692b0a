/**
 * For the upperstack-simulate node tests (simulate*.test.ts): the pipeline the
 * simulated devices feed, on the real embedded broker (a free loopback port)
 * and a DuckDB store in the runtime's data folder.
 */

/* eslint-disable @typescript-eslint/no-require-imports */
/**
 * The node modules of the ingest pipeline: embedded broker, MQTT input, decode,
 * validate, store (and its config) and dead letters (the node tests add theirs).
 */
export const ingestNodes = [
  require('../../nodes/broker/broker'),
  require('../../nodes/mqtt-in/mqtt-in'),
  require('../../nodes/decode/decode'),
  require('../../nodes/validate/validate'),
  require('../../nodes/store-config/store-config'),
  require('../../nodes/store/store'),
  require('../../nodes/deadletter/deadletter'),
] as unknown[];

/** The node modules the simulate pipeline needs (add the devices node for `devicesNode`). */
export const pipelineNodes = [...ingestNodes, require('../../nodes/simulate/simulate')] as unknown[];

/**
 * Store config `cfg`, broker `broker`, mqtt-in `in` → `decode` → `validate` →
 * `store`, dead letters `dead`, and the simulate node `sim` (properties `sim`).
 * `devicesNode`: a devices node `devs` that requires every client to log in.
 * `taps`: helper nodes `deadOut` after the dead letters and `simOut`, `truth`
 * on the simulate node's two outputs.
 */
export function simulatePipeline(sim: Record<string, unknown>, opts: { devicesNode?: boolean; taps?: boolean } = {}): Array<Record<string, unknown>> {
  const taps = opts.taps === true;
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, memoryLimit: 128, configVersion: 2 },
    ...(opts.devicesNode ? [{ id: 'devs', type: 'upperstack-devices', store: 'cfg', checkDigits: false, requireAuth: true, perDevice: 0, perAddress: 0, configVersion: 2 }] : []),
    { id: 'broker', type: 'upperstack-broker', z: 'tab', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'embedded', broker: 'broker', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 1, wires: [['decode'], ['dead']] },
    { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['validate'], ['dead']] },
    { id: 'validate', type: 'upperstack-validate', z: 'tab', schemaSource: 'default', configVersion: 1, wires: [['store'], ['dead']] },
    { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg', configVersion: 1, wires: [[]] },
    { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'cfg', broker: 'broker', topic: 'upperstack/deadletter', configVersion: 1, wires: [taps ? ['deadOut'] : []] },
    { id: 'sim', type: 'upperstack-simulate', z: 'tab', broker: 'broker', wires: taps ? [['simOut'], ['truth']] : [[], []], ...sim },
    ...(taps ? ['deadOut', 'simOut', 'truth'].map((id) => ({ id, type: 'helper', z: 'tab' })) : []),
  ];
}
