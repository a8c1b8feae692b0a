/**
 * For the anomaly node tests (anomaly*.test.ts): a flow with one anomaly node
 * and helper nodes on its two outputs, and steady readings to warm it up.
 */

export const T0 = 1767225600000;

/** A steady reading with a little deterministic noise, one a minute; `temperature` given: a spike. */
export function steadyReading(device: string, i: number, temperature = 20 + Math.sin(i * 1.7) * 0.5) {
  return { device, ts: T0 + i * 60_000, fields: { temperature, humidity: 40 + Math.cos(i * 1.3) }, tags: {} };
}

/**
 * Tab `tab`, the anomaly node `id` (robust z-score, warm-up 10, threshold 0.5,
 * no heartbeat; `props` on top) wired to helper nodes `<id>-out1` and
 * `<id>-out2`, in that order, then the nodes of `more`.
 */
export function anomalyFlow(id: string, props: Record<string, unknown>, more: Array<Record<string, unknown>> = []): Array<Record<string, unknown>> {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    {
      id,
      type: 'upperstack-anomaly',
      z: 'tab',
      detector: 'robust-zscore',
      warmup: '10',
      threshold: '0.5',
      maxSeries: '100',
      heartbeatMissed: '0',
      wires: [[`${id}-out1`], [`${id}-out2`]],
      ...props,
    },
    { id: `${id}-out1`, type: 'helper', z: 'tab' },
    { id: `${id}-out2`, type: 'helper', z: 'tab' },
    ...more,
  ];
}
