/** Dead-letter reasons as a key with masked fields sees them: values told by kind. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactReason } from '../../nodes/lib/security/reason-redaction';
import { decode, resolveSenml, type SenmlRecord } from '../../nodes/lib/codec';
import { toDeadLetter } from '../../nodes/lib/deadletter';
import { DecodeError, describeError, shiftQuoted } from '../../nodes/lib/errors';
import { compileSchema } from '../../nodes/lib/schema/validator';
import type { DeadLetter } from '../../nodes/lib/store/types';

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

/** The dead letter of what `fn` throws, as the dead-letter node writes it. */
function letterOf(fn: () => unknown): DeadLetter {
  try {
    fn();
  } catch (err) {
    return toDeadLetter({ device: 'd1', source: 'mqtt:devices/d1/telemetry', payload: 'x', error: describeError(err) });
  }
  throw new Error('did not throw');
}

test('a value a reason was made from is kept with the letter and told by kind whatever the wording: line protocol, schema keywords', () => {
  const lp = letterOf(() => decode('lineprotocol', Buffer.from('d1 temp=21.5,owner=JaneDoe5551234')));
  assert.match(lp.reason, /JaneDoe5551234/);
  assert.deepEqual(lp.quoted?.map((q) => [q.field, q.text, lp.reason.slice(q.at, q.at + q.text.length)]), [['owner', '"JaneDoe5551234"', '"JaneDoe5551234"']]);
  assert.equal(
    redactReason(lp.reason, lp.quoted),
    'line protocol line 1, column 20: field "owner" has value (text without quotes), which is not a float, an integer (12i), an unsigned integer (12u), a boolean or a "double-quoted string" (at byte 19)',
  );
  // Its field name the same as its value: only the value goes.
  const same = letterOf(() => decode('lineprotocol', Buffer.from('d1 x=x')));
  assert.match(redactReason(same.reason, same.quoted), /field "x" has value \(text without quotes\)/);
  const big = letterOf(() => decode('lineprotocol', Buffer.from(`d1 n=${'9'.repeat(30)}i`)));
  assert.equal(/9{30}/.test(redactReason(big.reason, big.quoted)), false);

  const validate = compileSchema({
    type: 'object',
    properties: {
      fields: {
        type: 'object',
        properties: {
          note: { type: 'string', maxLength: 8, 'x-upperstack-sensitive': 'mask' },
          pin: { const: '0000', 'x-upperstack-sensitive': true },
          code: { type: 'string', pattern: '^[A-Z]{3}$', 'x-upperstack-sensitive': 'mask' },
          mode: { enum: ['eco', 'max'] },
        },
      },
    },
  });
  const refused = (fields: Record<string, unknown>) => {
    const r = validate({ device: 'd1', ts: 1, fields });
    assert.equal(r.ok, false);
    return letterOf(() => {
      throw (r as { error: Error }).error;
    });
  };
  // A phone's "..." becomes "…", which the text's rule took for the end of a cut value.
  for (const [fields, value] of [
    [{ note: 'Call me… 555-1234' }, /555-1234|Call me/],
    [{ pin: '4711' }, /4711/],
    [{ code: 'secret-code' }, /secret-code/],
    [{ mode: 'turbo-Jane' }, /turbo-Jane/],
  ] as const) {
    const l = refused(fields);
    assert.match(l.reason, value);
    assert.equal(l.quoted?.[0].field, `/fields/${Object.keys(fields)[0]}`);
    const shown = redactReason(l.reason, l.quoted);
    assert.doesNotMatch(shown, value, shown);
    assert.match(shown, /\(got a string\)$/, shown);
  }
});

test('letters written before values were kept with them are redacted by their text; quoted values that do not stand where they say are left out', () => {
  const reason = '/fields/lat must be number (got "52.987654")';
  assert.equal(redactReason(reason, undefined), '/fields/lat must be number (got a string)');
  // The same text earlier in the reason (here the field's name) is not the value: it stays, the value is told by kind.
  const twice = 'field "owner" has value "owner"';
  assert.equal(redactReason(twice, [{ at: 24, text: '"owner"', kind: 'a string' }]), 'field "owner" has value a string');
  assert.equal(redactReason(twice, [{ at: 3, text: '"owner"', kind: 'a string' }]), twice);
  // Nonsense is ignored, not trusted.
  assert.equal(redactReason('plain', [{ at: 99, text: 'zz', kind: 'x' }, { at: 0, text: '', kind: 'x' }, 'junk', null]), 'plain');
  // A reason cut inside the value: the part there is told by kind.
  const cut = toDeadLetter({ error: { code: 'DECODE_FAILED', message: `${'a'.repeat(4090)} "Jane Doe"`, quoted: [{ at: 4091, text: '"Jane Doe"', kind: '(a string)' }] } });
  assert.equal(cut.reason.length, 4096);
  assert.deepEqual(cut.quoted, [{ at: 4091, text: '"Jane', kind: '(a string)' }]);
  assert.equal(redactReason(cut.reason, cut.quoted), `${'a'.repeat(4090)} (a string)`);
});

test('XML and SenML decode errors keep the values they quote, so they are told by kind wherever they stand', () => {
  const xml = letterOf(() => decode('xml', Buffer.from('<reading device="d1"><field name="Jane" type="number">Jane</field></reading>')));
  assert.match(xml.reason, /field "Jane" is typed number but holds "Jane"/);
  assert.match(redactReason(xml.reason, xml.quoted), /field "Jane" is typed number but holds some text \(at byte \d+\)$/);
  const outside = letterOf(() => decode('xml', Buffer.from('<readings>PIN 4711<reading device="d1"/></readings>')));
  assert.match(outside.reason, /PIN 4711/);
  assert.doesNotMatch(redactReason(outside.reason, outside.quoted), /4711/);

  // A "…" inside the value ended it for the text's rule; the kept place says where it really ends.
  const senml = letterOf(() => resolveSenml(decode('senml', Buffer.from(JSON.stringify([{ bn: 'd1:', n: 'note', v: 'Call me… 555-1234' }]))) as SenmlRecord[], { receivedAt: 1 }));
  assert.match(senml.reason, /555-1234/);
  const shown = redactReason(senml.reason, senml.quoted);
  assert.doesNotMatch(shown, /555-1234|Call me/, shown);
  assert.match(shown, /"v" must be a finite number, got a string/);
  const vd = letterOf(() => resolveSenml(decode('senml', Buffer.from(JSON.stringify([{ bn: 'd1:', n: 'blob', vd: 'not base64… 555-9876' }]))) as SenmlRecord[], { receivedAt: 1 }));
  assert.doesNotMatch(redactReason(vd.reason, vd.quoted), /555-9876/);
});

test('a wrapper that puts text before a message moves the places of the values it quotes with it', () => {
  const inner = new DecodeError('JSON value "Jane" at 0', { format: 'json', quoted: [{ at: 11, text: '"Jane"', kind: 'a string' }] });
  const details = shiftQuoted(inner.details, 'SenML '.length);
  const wrapped = toDeadLetter({ error: { code: 'DECODE_FAILED', message: `SenML ${inner.message}`, ...details } });
  assert.equal(redactReason(wrapped.reason, wrapped.quoted), 'SenML JSON value a string at 0');
});
