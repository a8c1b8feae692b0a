/** `npm start`: Node-RED with the Upperstack settings. */
import { join } from 'node:path';
import type { EventEmitter } from 'node:events';
import { settleAfterStart } from './settle-memory';

const settings = join(__dirname, '..', 'settings.js');
process.argv.splice(2, 0, '--settings', settings);
// red.js parses process.argv and starts the runtime when it is loaded.
require('node-red/red.js');
settleAfterStart((require('node-red') as { events: EventEmitter }).events);
