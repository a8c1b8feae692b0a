/** The simulate node's config as simulator settings. */
import { BadParameterError } from '../lib/errors';
import { ANOMALY_KINDS, MAX_MESSAGE_BYTES_RANGE, parseDuration, parseMix, parseRate, PROFILE_NAMES, type AnomalyKind, type Codec, type ProfileName, type SimulatorOptions } from '../lib/sim';
import { MQTT_TARGETS, simulateTopicProblem, type SimulateOptions } from './options';

/** The simulator's settings from the node's config; throws a BadParameterError naming the field. */
export function simulatorOptions(c: SimulateOptions): SimulatorOptions {
  // Refused up front: otherwise every message fails, or lands on a topic no flow reads the device from.
  const topic = simulateTopicProblem(c);
  if (topic) throw new BadParameterError(topic.option, topic.message);
  const { min, max } = MAX_MESSAGE_BYTES_RANGE;
  // Checked only where it is used: an HTTP or CoAP input answers "too large" itself.
  if (MQTT_TARGETS.includes(c.target) && !(Number.isInteger(c.maxBytes) && c.maxBytes >= min && c.maxBytes <= max)) {
    throw new BadParameterError('maxBytes', `maxBytes must be a whole number of bytes from ${min} to ${max}, got ${JSON.stringify(c.maxBytes)}`);
  }
  const kinds = c.anomalyKinds.split(',').map((s) => s.trim()).filter(Boolean) as AnomalyKind[];
  return {
    devices: c.devices,
    rate: parseRate(c.rate, 'rate'),
    plugRate: c.plugRate ? parseRate(c.plugRate, 'plugRate') : undefined,
    mix: parseMix(c.mix, PROFILE_NAMES) as Partial<Record<ProfileName, number>>,
    duration: c.duration.trim() ? parseDuration(c.duration, 'duration') : undefined,
    seed: c.seed,
    anomaliesPerHour: c.anomalies,
    anomalyKinds: kinds.length ? kinds : ANOMALY_KINDS,
    prefix: c.prefix || 'sim-',
    codec: c.codec as Codec,
  };
}

