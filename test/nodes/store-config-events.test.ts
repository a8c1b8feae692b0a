/** The store config's log lines for what its writers report, read from the en-US catalog as the user sees them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writerEventText } from '../../nodes/store-config/events';
import { catalogTranslator } from '../helpers/node-red';

const RED = { _: catalogTranslator(['store-config']) };

test('refused readings are logged under the codes their dead letters have (BEYOND_RETENTION too), not always STORE_REJECTED', () => {
  const tooOld = writerEventText(RED, { type: 'rejected', count: 2, devices: ['inf3'], codes: ['BEYOND_RETENTION'], error: 'it is older than the store keeps' });
  assert.equal(tooOld, 'the store refused 2 reading(s) of inf3 for what they hold; they are dead-lettered (BEYOND_RETENTION), the rest of their batch is stored: it is older than the store keeps');
  const both = writerEventText(RED, { type: 'rejected', count: 3, devices: ['a', 'b'], codes: ['BEYOND_RETENTION', 'STORE_REJECTED'], error: 'x' });
  assert.match(both, /^the store refused 3 reading\(s\) of a, b for what they hold; they are dead-lettered \(BEYOND_RETENTION, STORE_REJECTED\), /);
});
