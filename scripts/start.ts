/** `npm start`: Node-RED with the Upperstack settings. */
import { join } from 'node:path';
import type { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import { settlingCollector, settleAfterStart } from './settle-memory';
import { forgetPackageManifests } from './package-manifests';
import { keepConnections } from '../nodes/lib/server-timeouts';
import { answerClientErrors } from '../nodes/lib/client-errors';
import { installLeanDebug } from '../nodes/lib/lean-debug';
import { installLeanBufferList } from '../nodes/lib/lean-buffer-list';
import { installDeferredModules } from './deferred-modules';
import { ConfigError } from '../nodes/lib/errors';
import { deferFirstStart, firstStartServed } from './first-start';

// node-red is a devDependency (a user's own Node-RED brings its own): an install without it is said in one line.
try {
  require.resolve('node-red');
} catch {
  process.stderr.write('upperstack: npm start needs node-red, a devDependency of this package: run npm install (or npm ci) without --omit=dev\n');
  process.exit(1);
}
// Before Node-RED loads MQTT.js, mqtt-packet and aedes: their `debug` loggers then cost nothing while off.
installLeanDebug();
// mqtt-packet's parsers read each packet's header, lengths, topic and id without a Buffer per read.
installLeanBufferList();
// Libraries Node-RED and Dashboard 2 require at load but call only for one feature: loaded with it.
installDeferredModules();

const settings = join(__dirname, '..', 'settings.js');
// A first start's API key and password are kept and printed once the HTTP server listens, not by a start
// that is refused before (scripts/first-start.ts).
deferFirstStart();
// Loaded here first (red.js then finds it loaded): a setting that cannot work is said in one line, exit
// status 1, where red.js would print "Error loading settings file" and a stack trace.
try {
  require('../settings');
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`upperstack: ${err.message}\n`);
  process.exit(1);
}
process.argv.splice(2, 0, '--settings', settings);
const RED = require('node-red') as { events: EventEmitter; server: Server | null; start: () => Promise<unknown> };
// red.js logs a runtime that fails to start (a disk that filled up since the check of the data folder) and
// lets the process end with status 0, which a service manager takes for a clean stop: status 1 instead.
const start = RED.start.bind(RED);
RED.start = () =>
  start().catch((err: unknown) => {
    process.exitCode = 1;
    process.stderr.write(`upperstack: the runtime could not start: ${err instanceof Error ? err.message : String(err)}\n`);
    throw err;
  });
// red.js parses process.argv and starts the runtime when it is loaded.
require('node-red/red.js');
const collect = settlingCollector();
settleAfterStart(RED.events, () => {
  forgetPackageManifests();
  collect();
});
// red.js makes its HTTP server once the settings' HTTPS options resolve (a promise turn after loading),
// before it listens; applied again when the flows start in case that took longer.
let watching = false;
const configure = () => {
  if (RED.server) {
    keepConnections(RED.server);
    answerClientErrors(RED.server);
    if (!watching) {
      watching = true;
      if (RED.server.listening) firstStartServed();
      else RED.server.once('listening', firstStartServed);
    }
  }
};
setImmediate(configure);
RED.events.once('flows:started', configure);
