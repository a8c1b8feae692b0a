/**
 * The two stock Node-RED flows of the InfluxDB rows (bench/influx.ts), built
 * from core nodes and node-red-contrib-influxdb as its users wire them:
 *
 *   per message  mqtt in (JSON) → function: [fields, tags] → influxdb out (one write per message)
 *   batched      mqtt in (JSON) → function: point → join (1000 messages or 1 s) → influxdb batch
 *
 * plus `http in GET /bench/ready` so the benchmark knows the flow is running.
 */

/** Reading → [fields, tags] with its ts as the point's time (the node takes `time` out of the fields). */
const TO_FIELDS = `
const r = msg.payload;
const fields = {};
for (const k in r) if (k !== 'device' && k !== 'ts' && k !== 'tags') fields[k] = r[k];
fields.time = r.ts;
msg.payload = [fields, { device: r.device }];
return msg;
`;

const TO_POINT = `
const r = msg.payload;
const fields = {};
for (const k in r) if (k !== 'device' && k !== 'ts' && k !== 'tags') fields[k] = r[k];
msg.payload = { measurement: 'telemetry', tags: { device: r.device }, fields, timestamp: r.ts };
return msg;
`;

export function stockInfluxFlow(opts: { mode: 'message' | 'batch'; brokerPort: number; filter: string; influxPort: number; database: string }): { flows: unknown[]; credentials: Record<string, unknown> } {
  const z = 'bench_influx_tab';
  const nodes: unknown[] = [
    { id: z, type: 'tab', label: `stock InfluxDB (${opts.mode})`, disabled: false, info: '' },
    {
      id: 'bench_broker', type: 'mqtt-broker', name: 'bench broker', broker: '127.0.0.1', port: String(opts.brokerPort),
      clientid: `bench-stock-influx-${process.pid}`, autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60',
      cleansession: true, autoUnsubscribe: true, birthTopic: '', birthQos: '0', birthPayload: '', birthMsg: {},
      closeTopic: '', closeQos: '0', closePayload: '', closeMsg: {}, willTopic: '', willQos: '0', willPayload: '', willMsg: {},
      userProps: '', sessionExpiry: '',
    },
    {
      id: 'bench_influx', type: 'influxdb', hostname: '127.0.0.1', port: String(opts.influxPort), protocol: 'http', database: opts.database,
      name: 'influxd', usetls: false, tls: '', influxdbVersion: '1.x', url: '', rejectUnauthorized: false,
    },
    { id: 'bench_in', type: 'mqtt in', z, name: 'telemetry', topic: opts.filter, qos: '1', datatype: 'json', broker: 'bench_broker', nl: false, rap: true, rh: 0, inputs: 0, x: 120, y: 80, wires: [['bench_fmt']] },
    { id: 'bench_ready', type: 'http in', z, name: '', url: '/bench/ready', method: 'get', upload: false, swaggerDoc: '', x: 120, y: 160, wires: [['bench_ready_resp']] },
    { id: 'bench_ready_resp', type: 'http response', z, name: '', statusCode: '200', headers: {}, x: 320, y: 160, wires: [] },
  ];
  if (opts.mode === 'message') {
    nodes.push(
      { id: 'bench_fmt', type: 'function', z, name: '[fields, tags]', func: TO_FIELDS, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 300, y: 80, wires: [['bench_out']] },
      { id: 'bench_out', type: 'influxdb out', z, influxdb: 'bench_influx', name: '', measurement: 'telemetry', precision: 'ms', retentionPolicy: '', database: '', precisionV18FluxV20: 'ms', retentionPolicyV18Flux: '', org: '', bucket: '', x: 500, y: 80, wires: [] },
    );
  } else {
    nodes.push(
      { id: 'bench_fmt', type: 'function', z, name: 'point', func: TO_POINT, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 300, y: 80, wires: [['bench_join']] },
      {
        id: 'bench_join', type: 'join', z, name: 'join 1000', mode: 'custom', build: 'array', property: 'payload', propertyType: 'msg',
        key: 'topic', joiner: '\\n', joinerType: 'str', useparts: false, accumulate: false, timeout: '1', count: '1000',
        reduceRight: false, reduceExp: '', reduceInit: '', reduceInitType: '', reduceFixup: '', x: 460, y: 80, wires: [['bench_out']],
      },
      { id: 'bench_out', type: 'influxdb batch', z, influxdb: 'bench_influx', precision: 'ms', retentionPolicy: '', name: '', database: '', precisionV18FluxV20: 'ms', retentionPolicyV18Flux: '', org: '', bucket: '', x: 640, y: 80, wires: [] },
    );
  }
  // The config node reads credentials.username/password; a flow without auth has them empty.
  return { flows: nodes, credentials: { bench_influx: { username: '', password: '' } } };
}
