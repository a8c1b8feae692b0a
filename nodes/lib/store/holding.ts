/**
 * The sinks whose spool is at its disk budget right now, in this process. Such a sink holds new writes
 * (they are not reported durable), so the inputs' messages stay unsettled and the inputs push back; a
 * request/response input's refusal names these sinks, so a device's operator sees why the backlog grows.
 */
export interface HoldingSink {
  /** Which sink, e.g. `the influxdb sink "influx"`. */
  label: string;
  /** Its spool's disk budget in bytes. */
  budgetBytes: number;
}

const holding = new Map<object, HoldingSink>();

/** A writer's spool reached its budget (`sink` given) or has room again, or the writer closed (undefined). */
export function noteHolding(writer: object, sink: HoldingSink | undefined): void {
  if (sink) holding.set(writer, sink);
  else holding.delete(writer);
}

/** The sinks holding writes now, in the order they reached their budgets. */
export function holdingSinks(): HoldingSink[] {
  return [...holding.values()];
}
