/** Dead-letter reasons as a key with masked fields sees them: values told by kind. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactReason } from '../../nodes/lib/security/reason-redaction';

test('the values a reason quotes after "got" are told by their kind; the rest of the reason stays', () => {
  assert.equal(redactReason('/fields/lat must be number (got "52.987654")'), '/fields/lat must be number (got a string)');
  assert.equal(redactReason('/fields/owner must be string (got 55512345678)'), '/fields/owner must be string (got a number)');
  assert.equal(redactReason('/fields/pin must be string (got -1.5e3)'), '/fields/pin must be string (got a number)');
  assert.equal(redactReason('/fields/pin must be string (got true)'), '/fields/pin must be string (got true or false)');
  assert.equal(redactReason('/fields/a must be number (got {"x":"}","y":[1,2]})'), '/fields/a must be number (got an object)');
  assert.equal(redactReason('/fields/a must be number (got ["a",["b"]])'), '/fields/a must be number (got an array)');
  // Cut previews end in "…", inside a string or not.
  assert.equal(redactReason('/fields/owner must be number (got "Jane Doe, 12 Long Road…)'), '/fields/owner must be number (got a string)');
  assert.equal(redactReason('x (got {"a":"b",…) and y (got "z")'), 'x (got an object) and y (got a string)');
  // Kinds already told, and text without a value, are left as they are.
  for (const kept of ['fields.x must be a number, boolean or string, got string', '/fields/x is required but missing', 'x (got nothing)', 'x (got null)', 'forgot 12 things']) {
    assert.equal(redactReason(kept), kept);
  }
  // The enum's allowed values come from the schema, not from the device.
  assert.equal(redactReason('/fields/mode must be one of "a", "b" (got "secret")'), '/fields/mode must be one of "a", "b" (got a string)');
});
