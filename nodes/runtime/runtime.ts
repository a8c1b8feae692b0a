/**
 * upperstack-runtime: a Node-RED plugin, loaded before any node of any module
 * (Node-RED loads plugins first), so what Upperstack needs of the process is in
 * place in any Node-RED the package is installed into, not only under
 * `npm start`:
 * - the lean `debug` loggers of MQTT.js and mqtt-packet (nodes/lib/lean-debug.ts),
 *   installed when this file is required, before the broker and MQTT nodes load
 *   those libraries;
 * - reads from mqtt-packet's buffer lists without a Buffer per read
 *   (nodes/lib/lean-buffer-list.ts);
 * - JSON answers to requests Node's HTTP parser refuses (nodes/lib/client-errors.ts)
 *   on the runtime's HTTP server;
 * - how far past its arrival a reading's time may be (`upperstack.maxAheadSeconds`,
 *   nodes/lib/reading-time.ts), which every input and decode node judges with.
 * All are idempotent, so `npm start`, which installs them itself, gets each once.
 */
import { installLeanDebug } from '../lib/lean-debug';
import { installLeanBufferList } from '../lib/lean-buffer-list';
import { prepareServer, type RuntimeWithServer } from '../shared/server-setup';
import { setMaxAheadSeconds } from '../lib/reading-time';

interface PluginRuntime extends RuntimeWithServer {
  settings?: { upperstack?: { maxAheadSeconds?: unknown } };
  log?: { warn(msg: string): void };
}

// Once, at require: Node-RED's loader requires this file and calls the function
// below in the same synchronous step, so a second install there would find
// nothing new to make lean.
installLeanDebug();
installLeanBufferList();

export = function (RED: PluginRuntime): void {
  prepareServer(RED);
  try {
    setMaxAheadSeconds(RED.settings?.upperstack?.maxAheadSeconds);
  } catch (err) {
    // A typo must not stop the runtime, nor take every time: the default bound holds.
    setMaxAheadSeconds(undefined);
    RED.log?.warn(`upperstack: ${err instanceof Error ? err.message : String(err)}; using the default`);
  }
};
