/**
 * Preloaded (`node -r`) into a Node-RED a test starts: every time MQTT.js,
 * mqtt-packet or aedes requires the `debug` package, one line is appended to
 * the file named by UPPERSTACK_DEBUG_PROBE: the requiring file and whether the
 * factory it got hands out lean loggers (nodes/lib/lean-debug.ts). What a user's
 * runtime gives those libraries can only be seen from inside its process.
 */
import Module from 'node:module';
import { appendFileSync } from 'node:fs';

const out = process.env.UPPERSTACK_DEBUG_PROBE;
const LEAN = Symbol.for('upperstack.leanDebug');
const MQTT_LIBRARY = /[\\/]node_modules[\\/](mqtt|mqtt-packet|aedes)[\\/](?!node_modules)/;

type Load = (request: string, parent: { filename?: string } | undefined, isMain: boolean) => unknown;
const loader = Module as unknown as { _load: Load };
const load = loader._load;
if (out) {
  loader._load = function (request, parent, isMain) {
    const got = load.call(this, request, parent, isMain);
    // A module of the library itself, not a createRequire() made from its path (as the lean install's own lookup).
    if (request === 'debug' && parent?.filename && MQTT_LIBRARY.test(parent.filename) && require.cache[parent.filename] === parent) {
      const lean = (got as Record<symbol, unknown> | undefined)?.[LEAN] === true;
      appendFileSync(out, `${JSON.stringify({ from: parent.filename, lean })}\n`);
    }
    return got;
  };
}
