/**
 * A store config keeps each server sink's user, password and token in one of a fixed number of credential
 * slots (Node-RED's credentials are a fixed list per node type); a sink names its slot (`slot`, 1 when it
 * names none). Here without the sinks' code, for the start, which moves logins into slots before any node runs.
 */
export const CREDENTIAL_SLOTS = 8;

type Sink = Readonly<Record<string, unknown>>;

const isServer = (s: Sink) => s.kind === 'influxdb' || s.kind === 'victoriametrics';

/** The slot a sink's credentials are in. */
export function slotOf(sink: Sink): number {
  return Number(sink.slot ?? 1);
}

/** A slot no server sink among `sinks` names, or undefined when all are taken. */
export function freeSlot(sinks: readonly Sink[]): number | undefined {
  const used = new Set(sinks.filter(isServer).map(slotOf));
  for (let slot = 1; slot <= CREDENTIAL_SLOTS; slot++) if (!used.has(slot)) return slot;
  return undefined;
}

/** Whether another server sink among `sinks` reads its credentials from the same slot as `sink`. */
export function slotShared(sink: Sink, sinks: readonly Sink[]): boolean {
  return sinks.some((s) => s !== sink && isServer(s) && slotOf(s) === slotOf(sink));
}
