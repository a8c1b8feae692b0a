import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RULE_PROBLEMS, checkNewRuleDevices, validatePack, validateRule, type RuleProblem } from '../../nodes/lib/rules/validate';
import { RuleInvalidError } from '../../nodes/lib/errors';

const EXAMPLE = {
  id: 'hot',
  name: 'Too hot',
  devices: { all: true },
  when: { field: 'temperature', op: 'above', value: 30, for: '5s' },
  clear: { op: 'below', value: 28, for: '0s' },
  severity: 'warning',
  message: '{device}: {field} is {value} (above 30 since {since})',
};

/** What validateRule says about a rule it refuses: its first message and pointer, and every problem listed. */
function refusalOf(rule: unknown, opts?: { fresh?: boolean }): { message: string; pointer: string; errors: RuleProblem[] } {
  try {
    validateRule(rule, opts);
  } catch (err) {
    assert.ok(err instanceof RuleInvalidError, String(err));
    return { message: err.message, pointer: String(err.details.pointer), errors: err.details.errors as RuleProblem[] };
  }
  assert.fail('the rule was accepted');
}

function pointerOf(rule: unknown): string {
  try {
    validateRule(rule);
  } catch (err) {
    assert.ok(err instanceof RuleInvalidError, String(err));
    assert.ok(err.message.includes(String(err.details.pointer)), `${err.message} names ${err.details.pointer}`);
    return String(err.details.pointer);
  }
  return 'valid';
}

describe('rule validation', () => {
  it('an escalation without a time or a value is one problem, on "after", saying either will do', () => {
    const r = refusalOf({ ...EXAMPLE, escalate: { severity: 'critical' } });
    assert.deepEqual(r.errors, [
      { field: '/escalate/after', message: '/escalate/after is needed, or "value" (with "op"): after how long unacknowledged, or past which value, the alert escalates', keyword: 'anyOf' },
    ]);
    assert.equal(r.pointer, '/escalate/after');
    // Either one is enough.
    assert.ok(validateRule({ ...EXAMPLE, escalate: { severity: 'critical', after: '30m' } }));
    assert.ok(validateRule({ ...EXAMPLE, escalate: { severity: 'critical', op: 'above', value: 40 } }));
    // Other problems of the escalation are still said.
    assert.equal(pointerOf({ ...EXAMPLE, escalate: { severity: 'urgent', after: '30m' } }), '/escalate/severity');
  });

  it('accepts the issue\'s example exactly as written', () => {
    assert.deepEqual(validateRule(EXAMPLE), EXAMPLE);
  });

  it('refuses a listed device id no device can have in a new or imported rule, with the inputs\' rule for ids; accepts ids of every allowed character', () => {
    const newPointerOf = (rule: unknown): string => {
      try {
        checkNewRuleDevices(validateRule(rule));
      } catch (err) {
        assert.ok(err instanceof RuleInvalidError, String(err));
        return String(err.details.pointer);
      }
      return 'valid';
    };
    assert.equal(newPointerOf({ ...EXAMPLE, devices: { list: ['door-1', 'door 1'] } }), '/devices/list/1');
    assert.equal(newPointerOf({ ...EXAMPLE, devices: { list: ['door/2'] } }), '/devices/list/0');
    assert.equal(newPointerOf({ ...EXAMPLE, devices: { list: ['door*'] } }), '/devices/list/0', 'no wildcards: the list names devices');
    const silence = (devices: string[]) => ({ ...EXAMPLE, silences: [{ from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' }, { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', devices }] });
    assert.equal(newPointerOf(silence(['door-1', 'door 1'])), '/silences/1/devices/1', 'a silence names devices by the same rule');
    assert.equal(newPointerOf(silence(['door-1'])), 'valid');
    assert.throws(() => checkNewRuleDevices(validateRule({ ...EXAMPLE, devices: { list: ['door 1'] } })), /\/devices\/list\/0: "door 1" is not a device id: use 1 to 128 letters, digits/);
    assert.throws(() => validatePack({ rules: [{ ...EXAMPLE, devices: { list: ['door 1'] } }] }), /\/rules\/0\/devices\/list\/0: "door 1" is not a device id/);
    const ok = { ...EXAMPLE, devices: { list: ['plug1', 'a.b_c-d:e@f', 'x'.repeat(128)] } };
    assert.equal(newPointerOf(ok), 'valid');
    assert.equal(pointerOf({ ...EXAMPLE, devices: { list: ['x'.repeat(129)] } }), '/devices/list/0');
  });

  it('still reads a stored rule listing an id the device id rule now refuses, so loading rules.json does not drop it', () => {
    const old = { ...EXAMPLE, devices: { list: ['door 1'] } };
    assert.deepEqual(validateRule(old), old);
  });

  it('names the JSON pointer of what is wrong', () => {
    assert.equal(pointerOf({ ...EXAMPLE, when: { ...EXAMPLE.when, value: 'hot' } }), '/when/value');
    assert.equal(pointerOf({ ...EXAMPLE, when: { field: 'temperature', op: 'above', for: '5s' } }), '/when/value');
    assert.equal(pointerOf({ ...EXAMPLE, when: { ...EXAMPLE.when, op: 'abov' } }), '/when/op');
    assert.equal(pointerOf({ ...EXAMPLE, when: { ...EXAMPLE.when, for: '5 minutes' } }), '/when/for');
    assert.equal(pointerOf({ ...EXAMPLE, severity: 'bad' }), '/severity');
    assert.equal(pointerOf({ ...EXAMPLE, devices: { list: [] } }), '/devices/list');
    assert.equal(pointerOf({ ...EXAMPLE, devices: { tags: { '': '' } } }), '/devices/tags', 'devices by a tag without a name');
    assert.equal(pointerOf({ ...EXAMPLE, devices: { tags: { site: 'lab', ' ': 'x' } } }), '/devices/tags');
    assert.equal(pointerOf({ ...EXAMPLE, clear: { op: 'below', value: 28, fro: '1m' } }), '/clear/fro');
    assert.equal(pointerOf({ ...EXAMPLE, when: { all: [EXAMPLE.when, { field: 'h', op: 'outside', low: 5 }] } }), '/when/all/1/high');
    assert.equal(pointerOf({ ...EXAMPLE, when: { all: [{ field: 'h', op: 'outside', low: 50, high: 5 }] } }), '/when/all/0/low');
    assert.equal(pointerOf({ ...EXAMPLE, when: { all: [EXAMPLE.when] } }), '/when/all/0/for');
    assert.equal(pointerOf({ ...EXAMPLE, timezone: 'Mars/Olympus' }), '/timezone');
    assert.equal(pointerOf({ ...EXAMPLE, message: 'too {hot}' }), '/message');
    assert.equal(pointerOf({ ...EXAMPLE, schedule: [{ days: ['mon'], from: '8:00', to: '18:00' }] }), '/schedule/0/from');
    const { name: _name, ...noName } = EXAMPLE;
    assert.equal(pointerOf(noName), '/name');
    assert.equal(pointerOf({ ...EXAMPLE, id: 'has space' }), '/id');
  });

  it('rule packs: errors point into the pack; ids and names are unique', () => {
    assert.equal(validatePack({ rules: [EXAMPLE, { ...EXAMPLE, id: 'b', name: 'Another' }] }).length, 2);
    assert.throws(() => validatePack({ rules: [EXAMPLE, { ...EXAMPLE, id: 'b' }] }), (e: RuleInvalidError) => e.code === 'CONFLICT' && e.details.pointer === '/rules/1/name');
    assert.throws(() => validatePack({ rules: [EXAMPLE, { ...EXAMPLE, id: 'b', severity: 'x' }] }), (e: RuleInvalidError) => e.details.pointer === '/rules/1/severity');
    assert.throws(() => validatePack([EXAMPLE, EXAMPLE]), (e: RuleInvalidError) => e.details.pointer === '/1/id');
  });

  it('lists every problem, each with its field and a message naming it; the first stays the message and pointer of the refusal', () => {
    const schema = refusalOf({ ...EXAMPLE, severity: 'bad', when: { ...EXAMPLE.when, value: 'hot' }, remindEvery: 'often' });
    assert.deepEqual(schema.errors.map((e) => e.field).sort(), ['/remindEvery', '/severity', '/when/value']);
    for (const e of schema.errors) assert.ok(e.message.startsWith(e.field), `${e.message} names ${e.field}`);
    assert.equal(schema.message, schema.errors[0].message);
    assert.equal(schema.pointer, schema.errors[0].field);

    // The checks a schema cannot make, and the name and ids of a rule being saved, are listed together too.
    const semantic = refusalOf({ ...EXAMPLE, name: ' ', timezone: 'Mars/Olympus', message: 'too {hot}', devices: { list: ['door 1'] } }, { fresh: true });
    assert.deepEqual(semantic.errors.map((e) => e.field), ['/timezone', '/message', '/name', '/devices/list/0']);
    assert.match(semantic.errors[2].message, /^\/name must not be blank/);
    assert.equal(semantic.message, '/timezone "Mars/Olympus" is not a time zone; use a name such as "Europe/Berlin" or "UTC"');
  });

  it('one round lists the schema\'s problems and those of the checks after it, on the parts the schema took', () => {
    const r = refusalOf({ ...EXAMPLE, when: { field: 't', op: 'above' }, remindEvery: '0m' });
    assert.deepEqual(r.errors.map((e) => e.message), ['/when/value is required', '/remindEvery must be longer than zero']);
    assert.equal(r.pointer, '/when/value');
    // In a group: a condition the schema refused is left to its message, the others are checked.
    const group = refusalOf({ ...EXAMPLE, when: { all: [{ field: 'h', op: 'outside', low: 9, high: 2 }, { field: 'x', op: 'above' }] }, timezone: 'Mars/Olympus' });
    // A group watches no single field: the recovery threshold of EXAMPLE needs one, said in the same round.
    assert.deepEqual(group.errors.map((e) => e.field), ['/when/all/1/value', '/when/all/0/low', '/clear/field', '/timezone']);
    // The name and listed ids of a rule being saved too.
    const fresh = refusalOf({ ...EXAMPLE, name: ' ', severity: 'bad', devices: { list: ['door 1'] } }, { fresh: true });
    assert.deepEqual(fresh.errors.map((e) => e.field), ['/severity', '/name', '/devices/list/0']);
  });

  it('checks after the schema skip what it refused, whatever its shape, and say nothing that depends on it', () => {
    const junk = refusalOf({ id: 'r', devices: 5, when: 'x', clear: { op: 'below', value: 1 }, escalate: { op: 'above', value: 2 }, remindEvery: '0m', silences: 'x', schedule: [1] }, { fresh: true });
    const fields = junk.errors.map((e) => e.field);
    for (const f of ['/devices', '/when', '/silences', '/schedule/0', '/name', '/severity', '/remindEvery']) assert.ok(fields.includes(f), `${f} in ${fields.join(' ')}`);
    // Without a readable "when" nobody knows whether it watches one field: "/clear/field is required" would be a guess.
    assert.ok(!fields.includes('/clear/field') && !fields.includes('/escalate/field'), fields.join(' '));
    const { when: _when, ...noWhenRule } = EXAMPLE;
    const noWhen = refusalOf({ ...noWhenRule, remindEvery: '0s' });
    assert.deepEqual(noWhen.errors.map((e) => e.message), ['/when is required', '/remindEvery must be longer than zero']);
    for (const bad of [null, [1], 'rule', 7]) assert.equal(refusalOf(bad).errors.length, 1, JSON.stringify(bad));
  });

  it('the checks that read "when" run on its valid parts: a broken condition does not hide the recovery\'s or escalation\'s problems for a second round', () => {
    const clear = { op: 'below', value: 1 };
    const escalate = { op: 'above', value: 50, severity: 'critical' };
    // A group watches no single field, whichever of its conditions the schema refused.
    const group = refusalOf({ ...EXAMPLE, when: { all: [{ field: 'h', op: 'above' }, { field: 'x', op: 'below', value: 2 }] }, clear, escalate });
    assert.deepEqual(group.errors.map((e) => e.field), ['/when/all/0/value', '/clear/field', '/escalate/field']);
    assert.match(group.errors[1].message, /^\/clear\/field is required: the condition watches no single field/);
    assert.deepEqual(refusalOf({ ...EXAMPLE, when: { any: [5, { all: 'x' }] }, clear }).errors.map((e) => e.field).slice(-1), ['/clear/field']);
    // One condition with its operator taken: "not-reported" and "anomalous" clear by themselves.
    const silent = refusalOf({ ...EXAMPLE, when: { op: 'not-reported', for: 'soon' }, clear: { ...clear, field: 'temperature' }, escalate: { ...escalate, field: 'temperature' } });
    assert.deepEqual(silent.errors.map((e) => e.field), ['/when/for', '/clear/op', '/escalate/op']);
    assert.match(silent.errors[1].message, /^\/clear\/op is not used with "not-reported": the alert clears when the device reports again/);
    // Without a field it watches none, yet the threshold is wrong for being there, not for lacking a field: one problem each.
    for (const when of [{ op: 'not-reported', for: '10m' }, { op: 'anomalous' }]) {
      assert.deepEqual(refusalOf({ ...EXAMPLE, when, clear, escalate }).errors.map((e) => e.field), ['/clear/op', '/escalate/op'], when.op);
    }
    const odd = refusalOf({ ...EXAMPLE, when: { op: 'anomalous', score: 'high' }, clear: { ...clear, field: 'temperature' } });
    assert.deepEqual(odd.errors.map((e) => e.field), ['/when/score', '/clear/op']);
    // A field that was taken is watched, whatever else of the condition is wrong: nothing to say about the recovery's.
    assert.deepEqual(refusalOf({ ...EXAMPLE, when: { field: 't', op: 'above' }, clear, escalate }).errors.map((e) => e.field), ['/when/value']);
    assert.deepEqual(refusalOf({ ...EXAMPLE, when: { field: 't', op: 'abov', value: 3 }, clear, escalate }).errors.map((e) => e.field), ['/when/op']);
    // No field and an operator refused: whether it needs one is unknown, so nothing is said that depends on it.
    assert.deepEqual(refusalOf({ ...EXAMPLE, when: { op: 'abov', value: 3 }, clear, escalate }).errors.map((e) => e.field), ['/when/op']);
    // Nor when the field itself is refused.
    assert.deepEqual(refusalOf({ ...EXAMPLE, when: { field: 7, op: 'above', value: 3 }, clear, escalate }).errors.map((e) => e.field), ['/when/field']);
  });

  it('a group inside a group inside "when" is one problem, at it: groups nest one level at most', () => {
    const deep = { field: 'x', op: 'above', value: 3 };
    // Without the recovery of EXAMPLE, which a group would need a field for.
    const { clear: _clear, ...unclear } = EXAMPLE;
    const r = refusalOf({ ...unclear, when: { any: [{ field: 't', op: 'above', value: 1 }, { all: [{ field: 'h', op: 'below', value: 2 }, { any: [deep] }] }] } });
    assert.deepEqual(r.errors, [{ field: '/when/any/1/all/1', message: '/when/any/1/all/1 is a group inside a group inside "when": groups nest one level at most; move its conditions into the group around it' }]);
    // Other problems of the rule are still listed with it, each once.
    const more = refusalOf({ ...unclear, when: { all: [{ field: 't', op: 'above' }, { any: [{ field: 'h', op: 'outside', low: 9, high: 2 }, { all: [deep, deep] }, { any: [deep] }] }] }, remindEvery: '0s' });
    assert.deepEqual(more.errors.map((e) => e.field), ['/when/all/1/any/1', '/when/all/1/any/2', '/when/all/0/value', '/when/all/1/any/0/low', '/remindEvery']);
    // One level is allowed.
    assert.ok(validateRule({ ...unclear, when: { any: [{ field: 't', op: 'above', value: 1 }, { all: [deep, { field: 'h', op: 'below', value: 2 }] }] } }));
  });

  it('lists at most MAX_RULE_PROBLEMS problems, one per field', () => {
    const ids = Array.from({ length: MAX_RULE_PROBLEMS + 5 }, (_, i) => `door ${i}`);
    const r = refusalOf({ ...EXAMPLE, devices: { list: ids } }, { fresh: true });
    assert.equal(r.errors.length, MAX_RULE_PROBLEMS);
    assert.equal(new Set(r.errors.map((e) => e.field)).size, MAX_RULE_PROBLEMS);
  });

  it('rule packs list every problem of the rule refused, each pointing into the pack', () => {
    assert.throws(
      () => validatePack({ rules: [EXAMPLE, { ...EXAMPLE, id: 'b', severity: 'x', when: { ...EXAMPLE.when, for: 'soon' } }] }),
      (e: RuleInvalidError) => {
        const errors = e.details.errors as RuleProblem[];
        assert.deepEqual(errors.map((p) => p.field).sort(), ['/rules/1/severity', '/rules/1/when/for']);
        for (const p of errors) assert.ok(p.message.startsWith(p.field), p.message);
        return e.details.pointer === errors[0].field;
      },
    );
  });
});
