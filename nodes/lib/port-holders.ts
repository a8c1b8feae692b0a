/**
 * The ports this process's listeners hold, and who holds each. Two nodes of one runtime on one port (the
 * brokers of two packs, or a broker dropped from the palette beside the default pack's) get EADDRINUSE as a
 * second program on the port would; the one refused names the node that has the port, so the user knows
 * which of the two to change.
 */
export type PortProtocol = 'tcp' | 'udp';

const held = new Map<string, { holder: object; owner: string; port: number; protocol: PortProtocol }>();

const keyOf = (protocol: PortProtocol, bind: string, port: number) => `${protocol} ${bind} ${port}`;

/** Notes that `holder` (described by `owner`, e.g. `broker "embedded broker" (us_broker)`) listens on `port`. */
export function notePortHeld(protocol: PortProtocol, bind: string, port: number, holder: object, owner: string): void {
  held.set(keyOf(protocol, bind, port), { holder, owner, port, protocol });
}

/** Forgets every port `holder` held. */
export function releasePorts(holder: object): void {
  for (const [key, h] of held) if (h.holder === holder) held.delete(key);
}

/**
 * Who in this process holds `port` (on any address: a listener on 0.0.0.0 and one on 127.0.0.1 clash),
 * other than `except`; undefined when none does, so another program has it.
 */
export function portHolder(protocol: PortProtocol, port: number, except?: object): string | undefined {
  for (const h of held.values()) if (h.protocol === protocol && h.port === port && h.holder !== except) return h.owner;
  return undefined;
}

/** Why a port cannot be had, for people: the node of this runtime that holds it, or another program. */
export function portInUse(protocol: PortProtocol, bind: string, port: number, except: object | undefined, what: string): string {
  const owner = portHolder(protocol, port, except);
  return owner
    ? `port ${port} on ${bind} is already in use by ${owner} in this Node-RED: give one of them another port`
    : `port ${port} on ${bind} is already in use by another program: stop it, or give this ${what} another port`;
}
