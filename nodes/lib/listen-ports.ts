/**
 * The ports `npm start` and the image listen on come from the environment. One that is not a port would let
 * Node-RED start its flows without its HTTP server (no editor, API or /health, and the process runs on), or
 * leave the broker or CoAP input red: refused before anything listens, naming each variable.
 */
import { ConfigError } from './errors';

export const LISTEN_PORT_VARIABLES: readonly string[] = ['UPPERSTACK_HTTP_PORT', 'UPPERSTACK_MQTT_PORT', 'UPPERSTACK_COAP_PORT'];

/** Throws a ConfigError naming every listen port variable whose value is not a whole number from 1 to 65535. */
export function refuseBadListenPorts(env: Record<string, string | undefined>): void {
  const bad = LISTEN_PORT_VARIABLES.filter((name) => {
    const text = (env[name] ?? '').trim();
    return !/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535;
  });
  if (bad.length === 0) return;
  const shown = bad.map((name) => `${name}="${(env[name] ?? '').slice(0, 40)}"`).join(', ');
  throw new ConfigError(`${shown}: a port must be a whole number from 1 to 65535`, { setting: bad[0] });
}
