/**
 * `upperstack simulate`: a fleet of simulated devices sending realistic
 * telemetry over MQTT, HTTP or CoAP, with labelled anomalies written to a
 * ground-truth file. A progress line (devices, sent/s, acked, errors) shows on
 * long runs; Ctrl-C stops cleanly and still writes the ground truth.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ANOMALY_KINDS,
  CODECS,
  CoapTransport,
  formatDuration,
  HttpTransport,
  MAX_MESSAGE_BYTES_RANGE,
  MqttTransport,
  devicePrefixProblem,
  mqttTopicProblem,
  parseDuration,
  parseMix,
  parseRate,
  PROFILE_NAMES,
  Simulator,
  templateCredentials,
  truthDocument,
  type AnomalyKind,
  type Codec,
  type ProfileName,
  type SimulatorStats,
  type Transport,
} from '../nodes/lib/sim';
import { apiCaller, registerFleet, RegistrationError, registryCredentials } from '../nodes/lib/sim/register';

export class SimulateUsageError extends Error {}

export const SIMULATE_HELP = `upperstack simulate: simulated devices sending telemetry to the pipeline

Usage:
  upperstack simulate [--devices 1000] [--rate 1/s] [--duration 10m]
                      [--protocol mqtt|http|coap] [--codec json|cbor|msgpack|protobuf|senml]

  --devices N        devices, 1 to 10000 (default 10); ids sim-01, sim-02, ...
                     (as many digits as the fleet size has: sim-0001 for 1000)
  --rate R           reports per device of the environment and motion sensors:
                     1/s, 10/min, 0.5/s, 1/10s (default 1/s)
  --plug-rate R      reports per smart plug (default 2/s: power twice a second)
  --mix SHARES       device profiles, e.g. env:70,motion:15,plug:15 (the default)
                     env: temperature, humidity, illuminance, battery
                     motion: motion, battery; plug: power, voltage, energy
  --duration D       simulated time to run: 10m, 1h30m, 45s (default: until Ctrl-C)
  --protocol P       mqtt (default), http (POST /ingest/{device}) or
                     coap (confirmable POST /telemetry/{device}; bodies over 1 KiB
                     go block-wise, Block1 in 1024-byte blocks)
  --url URL          where to send (default mqtt://127.0.0.1:1883,
                     http://127.0.0.1:1880 or coap://127.0.0.1:5683)
  --codec C          json (default), cbor, msgpack, protobuf or senml; a busy device
                     sends what waited as one batch (protobuf: one reading per message)
  --topic T          MQTT topic, {device} is the device id
                     (default devices/{device}/telemetry; devices/{device}/protobuf for protobuf)
  --qos 0|1          MQTT QoS (default 1: a message counts as acked on PUBACK)
  --mqtt-version 4|5 MQTT 3.1.1 or 5 (default 5: the content type travels with each message)
  --max-bytes N      MQTT: the largest message in bytes, ${MAX_MESSAGE_BYTES_RANGE.min} to ${MAX_MESSAGE_BYTES_RANGE.max}
                     (default 1048576, the decode node's default size limit); a batch
                     that would be larger goes as several messages: the input
                     acknowledges a larger one and dead-letters it
  --connections N    MQTT connections shared by the devices (default 10), or "device"
                     for one each (client id = device id); HTTP: sockets (default 64)
  --username U, --password P, --token T
                     device login (MQTT, HTTP basic, CoAP ?u=&p=) or a device's secret
                     (HTTP bearer, CoAP ?k=); {device} is replaced by each device's id
  --register URL     add the devices to the device registry of the runtime at URL
                     (e.g. http://127.0.0.1:1880; API key in UPPERSTACK_API_KEY or --key),
                     or rotate the secret of those already there, and log each device in
                     with its own secret (MQTT: one connection each)
  --key K            API key for --register (default UPPERSTACK_API_KEY)
  --anomalies N      injected anomalies per simulated hour over the fleet (default 12, 0: none)
  --anomaly-kinds K  any of spike,shift,drift,stuck,dropout (default all)
  --truth FILE       ground-truth file of the injected anomalies (default simulate-truth.json)
  --seed N           same seed, same fleet, signals and anomalies (default 1)
  --start T          simulated start: ISO 8601 or relative like -24h (default now)
  --speed X          simulated seconds per real second (default 1), e.g. --start -24h
                     --duration 24h --speed 1440 sends a day of history in a minute
  --prefix P         device id prefix (default sim-)
  --progress D       how often the progress line is printed (default 1s on a terminal,
                     where it is redrawn in place, 10s otherwise)
  --drain D          how long the end of the run waits for acknowledgements (default 10s);
                     messages still unacknowledged then count as "not acknowledged"
  --quiet            no progress line

"N readings lost to full device buffers" in the summary: readings the simulated
devices dropped themselves, never sent. A device keeps up to 100 x --speed readings
(at most 10,000) while it waits for an acknowledgement and drops its oldest beyond,
as a real one would when the pipeline pushes back (a paused input, a slow store);
the pipeline did not lose them. Fewer devices, a lower --speed or --rate avoid it.
A batch the HTTP or CoAP input refuses as too large (413, 4.13) is sent again in
parts ("N refused as too large and sent again in parts"): no reading is lost.
Over MQTT no answer says "too large", so batches are kept within --max-bytes.

Exit status: 0 when every message was acknowledged, 1 when some failed or were not
acknowledged or the broker could not be reached, 2 on bad usage or a --register
key the runtime does not accept.
`;

const OPTIONS = {
  devices: { type: 'string' },
  rate: { type: 'string' },
  'plug-rate': { type: 'string' },
  mix: { type: 'string' },
  duration: { type: 'string' },
  protocol: { type: 'string' },
  url: { type: 'string' },
  codec: { type: 'string' },
  topic: { type: 'string' },
  qos: { type: 'string' },
  'mqtt-version': { type: 'string' },
  'max-bytes': { type: 'string' },
  connections: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  token: { type: 'string' },
  register: { type: 'string' },
  key: { type: 'string' },
  anomalies: { type: 'string' },
  'anomaly-kinds': { type: 'string' },
  truth: { type: 'string' },
  seed: { type: 'string' },
  start: { type: 'string' },
  speed: { type: 'string' },
  prefix: { type: 'string' },
  progress: { type: 'string' },
  drain: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Options that take a value. */
const VALUE_OPTIONS = new Set(Object.entries(OPTIONS).filter(([, o]) => o.type === 'string').map(([name]) => name));

/** The simulator's own bound (nodes/lib/sim/simulator.ts). */
const MAX_SPEED = 1_000_000;

const DEFAULT_URLS: Record<string, string> = { mqtt: 'mqtt://127.0.0.1:1883', http: 'http://127.0.0.1:1880', coap: 'coap://127.0.0.1:5683' };

/** "1 message", "3 messages". */
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function parseStart(text: string, now: number): number {
  const rel = /^-(.+)$/.exec(text.trim());
  if (rel) return now - parseDuration(rel[1], 'start');
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new SimulateUsageError(`--start must be ISO 8601 or relative like -24h, got "${text}"`);
  return t;
}

function progressLine(s: SimulatorStats, rate: number, duration: number | undefined, speed: number): string {
  const elapsed = formatDuration(s.elapsedMs);
  const total = duration !== undefined ? `/${formatDuration(duration / speed)}` : '';
  const extra = [s.lost ? `lost ${s.lost}` : '', s.lastError && s.errors ? `last error: ${s.lastError}` : ''].filter(Boolean).join(' · ');
  return `devices ${s.devices} · sent ${Math.round(rate)}/s · acked ${s.acked} · errors ${s.errors} · anomalies ${s.anomalies} · ${elapsed}${total}${extra ? ` · ${extra}` : ''}`;
}

export async function runSimulate(argv: string[], out: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream & { isTTY?: boolean } } = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  // "--start -24h" reads naturally, and "--speed -1" deserves "must be above 0" rather than parseArgs'
  // "ambiguous": a negative number after an option taking a value is that option's value.
  const args = argv.reduce<string[]>((out, a) => {
    const prev = out[out.length - 1];
    if (/^-\.?\d/.test(a) && prev && /^--[a-z-]+$/.test(prev) && VALUE_OPTIONS.has(prev.slice(2))) out[out.length - 1] = `${prev}=${a}`;
    else out.push(a);
    return out;
  }, []);
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: OPTIONS,
      strict: true,
    }));
  } catch (err) {
    throw new SimulateUsageError(`${(err as Error).message}\n\n${SIMULATE_HELP}`);
  }
  if (values.help) {
    out.stdout.write(SIMULATE_HELP);
    return 0;
  }
  const protocol = values.protocol ?? 'mqtt';
  if (!(protocol in DEFAULT_URLS)) throw new SimulateUsageError(`--protocol must be mqtt, http or coap, got "${protocol}"`);
  const codec = (values.codec ?? 'json') as Codec;
  if (!CODECS.includes(codec)) throw new SimulateUsageError(`--codec must be one of ${CODECS.join(', ')}, got "${codec}"`);
  const num = (v: string | undefined, name: string, fallback: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new SimulateUsageError(`--${name} must be a number, got "${v}"`);
    return n;
  };
  const devices = num(values.devices, 'devices', 10);
  const kinds = values['anomaly-kinds'] ? (values['anomaly-kinds'].split(',').map((s) => s.trim()).filter(Boolean) as AnomalyKind[]) : [...ANOMALY_KINDS];
  for (const k of kinds) if (!ANOMALY_KINDS.includes(k)) throw new SimulateUsageError(`--anomaly-kinds: unknown kind "${k}"; use ${ANOMALY_KINDS.join(', ')}`);
  const speed = num(values.speed, 'speed', 1);
  if (!(speed > 0 && speed <= MAX_SPEED)) throw new SimulateUsageError(`--speed must be a positive number (simulated seconds per real second, at most ${MAX_SPEED}), got "${values.speed}"`);
  const duration = values.duration !== undefined ? parseDuration(values.duration, 'duration') : undefined;
  const now = Date.now();
  const start = values.start !== undefined ? parseStart(values.start, now) : now;
  const seed = num(values.seed, 'seed', 1);
  const key = values.key ?? process.env.UPPERSTACK_API_KEY ?? '';
  if (values.register !== undefined) {
    if (!key) throw new SimulateUsageError('--register needs the runtime\'s API key: --key or UPPERSTACK_API_KEY');
    if (values.username !== undefined || values.password !== undefined || values.token !== undefined) throw new SimulateUsageError('--register gives each device its own secret: leave out --username, --password and --token');
    if (values.connections !== undefined && values.connections !== 'device' && (values.protocol ?? 'mqtt') === 'mqtt') throw new SimulateUsageError('--register logs each device in on its own MQTT connection: leave out --connections or use "device"');
  }
  // Filled by --register once the fleet is known, before the first message.
  const secrets = new Map<string, string>();
  const credentials = values.register !== undefined ? registryCredentials(secrets) : templateCredentials({ username: values.username, password: values.password, token: values.token });
  const url = values.url ?? DEFAULT_URLS[protocol];
  const connections = values.connections === 'device' || (values.register !== undefined && protocol === 'mqtt') ? 'device' : values.connections !== undefined ? num(values.connections, 'connections', 10) : undefined;
  if (connections !== undefined && connections !== 'device' && !(Number.isInteger(connections) && connections >= 1)) throw new SimulateUsageError('--connections must be a whole number of 1 or more, or "device"');
  const qos = num(values.qos, 'qos', 1);
  if (qos !== 0 && qos !== 1) throw new SimulateUsageError('--qos must be 0 or 1');
  const version = num(values['mqtt-version'], 'mqtt-version', 5);
  if (version !== 4 && version !== 5) throw new SimulateUsageError('--mqtt-version must be 4 (MQTT 3.1.1) or 5');

  const maxBytes = values['max-bytes'] !== undefined ? num(values['max-bytes'], 'max-bytes', 0) : undefined;
  const { min: minBytes, max: maxBytesLimit } = MAX_MESSAGE_BYTES_RANGE;
  if (maxBytes !== undefined && !(Number.isInteger(maxBytes) && maxBytes >= minBytes && maxBytes <= maxBytesLimit)) {
    throw new SimulateUsageError(`--max-bytes must be a whole number of bytes from ${minBytes} to ${maxBytesLimit}, got "${values['max-bytes']}"`);
  }
  if (maxBytes !== undefined && protocol !== 'mqtt') throw new SimulateUsageError(`--max-bytes is for MQTT: the ${protocol.toUpperCase()} input answers a message too large and the simulator sends it again in parts`);

  const prefix = values.prefix ?? 'sim-';
  const topic = values.topic ?? (codec === 'protobuf' ? 'devices/{device}/protobuf' : 'devices/{device}/telemetry');
  const problem = protocol === 'mqtt' ? mqttTopicProblem(topic, prefix) : devicePrefixProblem(prefix);
  if (problem) throw new SimulateUsageError(problem.message);
  const drainMs = values.drain !== undefined ? parseDuration(values.drain, 'drain') : undefined;

  let transport: Transport;
  try {
    if (protocol === 'mqtt') {
      transport = new MqttTransport({ url, topic, qos, connections, protocolVersion: version, credentials, maxMessageBytes: maxBytes });
    } else if (protocol === 'http') {
      transport = new HttpTransport({ url, connections: connections === 'device' ? devices : connections, credentials });
    } else {
      transport = new CoapTransport({ url, credentials });
    }
  } catch (err) {
    throw new SimulateUsageError(`--url: ${(err as Error).message}`);
  }

  const sim = new Simulator(
    {
      devices,
      rate: parseRate(values.rate ?? '1/s', 'rate'),
      plugRate: values['plug-rate'] !== undefined ? parseRate(values['plug-rate'], 'plug-rate') : undefined,
      mix: values.mix !== undefined ? (parseMix(values.mix, PROFILE_NAMES) as Partial<Record<ProfileName, number>>) : undefined,
      duration,
      speed,
      start,
      seed,
      anomaliesPerHour: num(values.anomalies, 'anomalies', 12),
      anomalyKinds: kinds,
      prefix,
      codec,
      drainMs,
    },
    transport,
  );
  const truthFile = resolve(values.truth ?? 'simulate-truth.json');
  const writeTruth = () => {
    const s = sim.stats();
    writeFileSync(truthFile, JSON.stringify(truthDocument({ seed, devices: s.devices, start: sim.startTime, end: s.simTime }, sim.truth()), null, 2) + '\n');
  };

  // Written at the end, after a run that may have taken hours: a path that cannot take it is said before anything is sent.
  try {
    writeTruth();
  } catch (e) {
    throw new SimulateUsageError(`--truth ${truthFile} cannot be written: ${(e as Error).message}`);
  }

  const err = out.stderr;
  if (values.register !== undefined) {
    const ids = sim.devices.map((d) => d.id);
    const started = Date.now();
    let shownAt = started;
    try {
      const issued = await registerFleet(ids, apiCaller(values.register, key), {
        tags: { simulated: 'true' },
        progress: (done, total) => {
          if (values.quiet || Date.now() - shownAt < 2000) return;
          shownAt = Date.now();
          err.write(`registering devices: ${done}/${total}\n`);
        },
      });
      for (const [id, secret] of issued) secrets.set(id, secret);
    } catch (e) {
      err.write(`upperstack simulate: ${(e as Error).message}\n`);
      // A key the runtime does not accept is bad input, 2, as for `upperstack devices`; unreachable or failing, 1.
      return e instanceof RegistrationError && e.refused ? 2 : 1;
    }
    err.write(`${ids.length} device${ids.length === 1 ? '' : 's'} registered at ${values.register} (tag simulated=true) in ${formatDuration(Date.now() - started)}\n`);
  }
  err.write(`simulating ${devices} device${devices === 1 ? '' : 's'} over ${protocol.toUpperCase()} to ${url} (${codec}); ground truth in ${truthFile}\n`);
  // A broker that cannot be reached (or refuses the device login) is a failure, exit 1, as an unreachable runtime is for the admin commands.
  try {
    await sim.start();
  } catch (e) {
    err.write(`upperstack simulate: ${(e as Error).message}\n`);
    return 1;
  }

  // The progress line: redrawn in place every second on a terminal, a line every 10 s otherwise.
  const tty = !!err.isTTY;
  const progressEvery = values.progress !== undefined ? parseDuration(values.progress, 'progress') : tty ? 1000 : 10_000;
  let lastSent = 0;
  let lastAt = Date.now();
  let shown = false;
  const progress = setInterval(() => {
    const s = sim.stats();
    const now2 = Date.now();
    const rate = ((s.sent - lastSent) * 1000) / Math.max(1, now2 - lastAt);
    lastSent = s.sent;
    lastAt = now2;
    if (values.quiet) return;
    const line = progressLine(s, rate, duration, speed);
    if (tty) err.write(`\r\x1b[K${line}`);
    else err.write(`${line}\n`);
    shown = true;
  }, progressEvery);

  let interrupted = 0;
  const onSigint = () => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    void sim.stop();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const finalStats = await new Promise<SimulatorStats>((r) => sim.once('done', r));
  clearInterval(progress);
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigint);
  writeTruth();
  if (shown && tty) err.write('\n');
  const s = finalStats;
  const avg = s.elapsedMs > 0 ? (s.sent * 1000) / s.elapsedMs : 0;
  out.stdout.write(
    `${s.devices} device${s.devices === 1 ? '' : 's'}: ${plural(s.sent, 'message')} (${plural(s.readings, 'reading')}) sent in ${formatDuration(s.elapsedMs)} (${Math.round(avg)}/s), ${s.acked} acked, ${s.errors + s.unacked} failed` +
      `${s.unacked ? ` (${s.unacked} not acknowledged)` : ''}` +
      `${s.split ? `, ${s.split} refused as too large and sent again in parts` : ''}` +
      `${s.lost ? `, ${s.lost} readings lost to full device buffers` : ''}` +
      `${s.stopped ? `, ${s.stopped} device${s.stopped === 1 ? '' : 's'} stopped: refused for good` : ''}; ${s.anomalies} anomalies injected (${s.suppressed} readings held back by dropouts), ground truth in ${truthFile}\n`,
  );
  if (s.errors) out.stderr.write(`last error: ${s.lastError}\n`);
  if (s.unacked) out.stderr.write(`${s.unacked} messages were not acknowledged within ${formatDuration(drainMs ?? 10_000)} of the end: the broker or server may have refused them or closed the connection\n`);
  return s.errors > 0 || s.unacked > 0 ? 1 : 0;
}
