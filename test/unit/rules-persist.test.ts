import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuleEngine } from '../../nodes/lib/rules/engine';
import { StateLog } from '../../nodes/lib/rules/persist';
import { RuleStore } from '../../nodes/lib/rules/store';
import { ConflictError, RuleInvalidError } from '../../nodes/lib/errors';
import type { Rule } from '../../nodes/lib/rules/types';
import { tempDir } from '../helpers/temp';

const HOT: Rule = { id: 'hot', name: 'Too hot', devices: { all: true }, when: { field: 't', op: 'above', value: 30, for: '5s' }, severity: 'warning' };
const T0 = Date.UTC(2026, 0, 5, 12);

describe('alert state on disk', () => {
  it('transitions appended to the log survive a crash without a snapshot; a torn last line is skipped', () => {
    const dir = tempDir('us-alert-state-');
    let now = T0;
    const engine = new RuleEngine([HOT], { clock: () => now });
    const log = new StateLog(dir);
    assert.equal(log.load(), undefined, 'nothing saved yet');
    const run = (events: ReturnType<RuleEngine['process']>) => log.append(engine.takeChanges(false), events);
    for (let i = 0; i <= 6; i++) {
      now = T0 + i * 1000;
      run(engine.process({ device: 'd', ts: now, fields: { t: 35 }, tags: {} }));
    }
    assert.equal(engine.alert('hot:d')?.state, 'firing');
    // The process dies: no close, no snapshot; half a line at the end.
    appendFileSync(join(dir, 'alerts', 'state', readdirSync(join(dir, 'alerts', 'state')).find((f) => f.startsWith('log-'))!), '{"s":{"r":"hot","d":"x"');
    const again = new RuleEngine([HOT], { clock: () => now });
    const saved = new StateLog(dir).load()!;
    again.importState(saved);
    const rec = again.alert('hot:d')!;
    assert.equal(rec.state, 'firing');
    assert.equal(rec.occurrences, 1);
    assert.deepEqual(again.history().map((e) => e.event), ['pending', 'firing']);
    // Still firing after the restart: a normal reading clears it.
    now += 1000;
    assert.deepEqual(again.process({ device: 'd', ts: now, fields: { t: 20 }, tags: {} }).map((e) => e.event), ['cleared']);
  });

  it('a snapshot replaces the log; the next load reads the snapshot and the new log', () => {
    const dir = tempDir('us-alert-state-');
    let now = T0;
    const engine = new RuleEngine([HOT], { clock: () => now });
    const log = new StateLog(dir);
    log.load();
    log.append(engine.takeChanges(false), engine.process({ device: 'a', ts: now, fields: { t: 35 }, tags: {} }));
    log.snapshot(engine.exportState());
    now += 2000;
    log.append(engine.takeChanges(false), engine.process({ device: 'b', ts: now, fields: { t: 35 }, tags: {} }));
    log.append(engine.takeChanges(true));
    log.close();
    const files = readdirSync(join(dir, 'alerts', 'state')).sort();
    assert.deepEqual(files, ['log-1.jsonl', 'snapshot.json']);
    const saved = new StateLog(dir).load()!;
    const again = new RuleEngine([HOT], { clock: () => now });
    again.importState(saved);
    assert.deepEqual(again.alerts({ state: 'pending' }).map((r) => r.device).sort(), ['a', 'b']);
  });
});

describe('rule store', () => {
  it('refuses a name another rule has (any case, spaces around), as the form does', () => {
    const store = new RuleStore(tempDir('us-rules-'));
    const who = { actor: 'ann', via: 'api' };
    store.create(HOT, who);
    assert.throws(() => store.create({ ...HOT, id: 'hot2', name: ` ${HOT.name.toUpperCase()} ` }, who), (e: ConflictError) => e.details.pointer === '/name' && /a rule named ".*" exists already \(hot\)/.test(e.message));
    store.create({ ...HOT, id: 'hot2', name: 'Too hot, second floor' }, who);
    assert.throws(() => store.update('hot2', { ...HOT, id: undefined, name: HOT.name }, who), (e: ConflictError) => e.details.pointer === '/name');
    // A rule keeps its own name when it changes otherwise.
    store.update('hot', { ...HOT, id: undefined, severity: 'critical' }, who);
    assert.deepEqual(store.list().map((r) => r.name), [HOT.name, 'Too hot, second floor']);
  });

  it('keeps the rule set in rules.json, audit-logs every change with before and after, and names bad values', () => {
    const dir = tempDir('us-rules-');
    const store = new RuleStore(dir);
    const seen: string[] = [];
    store.onChange((c) => seen.push(c.type === 'upsert' ? `upsert ${c.rule.id}` : `delete ${c.id}`));
    const who = { actor: 'ann', via: 'api' };
    store.create(HOT, who);
    assert.throws(() => store.create(HOT, who), /exists already/);
    store.update('hot', { ...HOT, id: undefined, severity: 'critical' }, who);
    assert.throws(() => store.update('hot', { ...HOT, when: { field: 't', op: 'above' } }, who), (e: RuleInvalidError) => e.details.pointer === '/when/value');
    assert.throws(() => store.update('nope', HOT, who), /no rule "nope"/);
    assert.equal(new RuleStore(dir).get('hot').severity, 'critical', 'on disk');
    store.remove('hot', who);
    assert.deepEqual(seen, ['upsert hot', 'upsert hot', 'delete hot']);
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; actor: string; before?: Rule; after?: Rule });
    assert.deepEqual(audit.map((a) => a.action), ['rule.create', 'rule.update', 'rule.delete']);
    assert.equal(audit[1].before?.severity, 'warning');
    assert.equal(audit[1].after?.severity, 'critical');
    assert.equal(audit[2].actor, 'ann');
  });

  it('imports a rule pack only when every rule is valid; replace deletes what the pack lacks', () => {
    const dir = tempDir('us-rules-');
    const store = new RuleStore(dir);
    const who = { actor: 'api', via: 'api' };
    store.create({ ...HOT, id: 'old', name: 'Old' }, who);
    assert.throws(() => store.import({ rules: [HOT, { ...HOT, id: 'b', severity: 'loud' }] }, 'merge', who), (e: RuleInvalidError) => e.details.pointer === '/rules/1/severity');
    assert.deepEqual(store.list().map((r) => r.id), ['old'], 'nothing changed');
    assert.deepEqual(store.import({ rules: [HOT] }, 'merge', who), { created: ['hot'], updated: [], deleted: [] });
    assert.deepEqual(store.import({ rules: [HOT] }, 'replace', who), { created: [], updated: [], deleted: ['old'] });
    assert.deepEqual(store.export(), { rules: [HOT] });
  });

  it('a pack with two rules of one name (any case) is refused, naming it, before anything changes; so is a merge onto a kept rule of its name', () => {
    const dir = tempDir('us-rules-');
    const store = new RuleStore(dir);
    const who = { actor: 'api', via: 'api' };
    store.create({ ...HOT, id: 'old', name: 'Old' }, who);
    const twice = { rules: [{ ...HOT, id: 'a' }, { ...HOT, id: 'b', name: ' too HOT ' }] };
    assert.throws(
      () => store.import(twice, 'replace', who),
      (e: ConflictError) => e.code === 'CONFLICT' && e.details.pointer === '/rules/1/name' && /two rules of the pack are named "too HOT" \(\/rules\/0 and \/rules\/1\)/.test(e.message),
    );
    assert.throws(() => store.import(twice.rules, 'merge', who), (e: ConflictError) => e.details.pointer === '/1/name');
    assert.throws(
      () => store.import({ rules: [HOT, { ...HOT, id: 'new', name: 'old' }] }, 'merge', who),
      (e: ConflictError) => e.code === 'CONFLICT' && e.details.pointer === '/rules/1/name' && /a rule named "Old" exists already \(old\)/.test(e.message),
    );
    assert.deepEqual(store.list().map((r) => r.id), ['old'], 'nothing changed');
    assert.deepEqual(new RuleStore(dir).list().map((r) => r.id), ['old'], 'nothing changed on disk');
    // Replacing the kept rule frees its name; so does the pack's own rule of the same id.
    assert.deepEqual(store.import({ rules: [{ ...HOT, id: 'old', name: 'Older' }, { ...HOT, id: 'new', name: 'Old' }] }, 'merge', who), { created: ['new'], updated: ['old'], deleted: [] });
  });

  it('a rules.json edited by hand into an invalid rule: the rule is reported, the others load', () => {
    const dir = tempDir('us-rules-');
    new RuleStore(dir).create(HOT, { actor: 'x', via: 'api' });
    const file = join(dir, 'alerts', 'rules.json');
    const data = JSON.parse(readFileSync(file, 'utf8')) as { rules: unknown[] };
    data.rules.push({ ...HOT, id: 'broken', severity: 'loud' });
    writeFileSync(file, JSON.stringify(data));
    const store = new RuleStore(dir);
    assert.deepEqual(store.list().map((r) => r.id), ['hot']);
    assert.match(store.problems[0], /\/rules\/1.*\/severity/);
  });

  it('a stored rule that fails the schema stays in rules.json, as written, when another rule is saved, and is still reported', () => {
    const dir = tempDir('us-rules-');
    const file = join(dir, 'alerts', 'rules.json');
    // What a version with a looser schema saved: the second rule is not valid today.
    const failing = { ...HOT, id: 'loud', name: 'Very loud', severity: 'deafening', note: { by: 'ann', 'ü': [1, 'two'] } };
    new RuleStore(dir);
    writeFileSync(file, JSON.stringify({ version: 1, rules: [HOT, failing] }));
    const store = new RuleStore(dir);
    assert.deepEqual(store.list().map((r) => r.id), ['hot']);
    const who = { actor: 'api', via: 'api' };
    store.create({ ...HOT, id: 'cold', name: 'Too cold', when: { field: 't', op: 'below', value: 0 } }, who);
    store.update('hot', { ...HOT, severity: 'critical' }, who);
    store.remove('cold', who);
    store.import({ rules: [HOT] }, 'replace', who);
    const rules = (JSON.parse(readFileSync(file, 'utf8')) as { rules: unknown[] }).rules;
    assert.deepEqual(rules, [HOT, failing], 'the failing rule is in the file as it was written, at its place');
    assert.throws(() => store.create({ ...HOT, id: 'loud', name: 'Loud' }, who), (e: ConflictError) => e.code === 'CONFLICT' && /"loud" is stored but not run/.test(e.message));
    const again = new RuleStore(dir);
    assert.deepEqual(again.list().map((r) => r.id), ['hot']);
    assert.equal(again.problems.length, 1);
    assert.match(again.problems[0], /\/rules\/1 \(rule "loud"\) is not run: .*\/severity.*kept in the file/);
  });

  it('a stored rule whose id no rule may have is not offered a PUT, which could only fail', () => {
    const dir = tempDir('us-rules-');
    const file = join(dir, 'alerts', 'rules.json');
    new RuleStore(dir);
    writeFileSync(file, JSON.stringify({ version: 1, rules: [{ ...HOT, id: 'too hot!' }, { ...HOT, id: 'b', name: 'B', severity: 'loud' }] }));
    const store = new RuleStore(dir);
    assert.equal(store.problems.length, 2);
    assert.match(store.problems[0], /\/rules\/0 \(rule "too hot!"\) is not run: .*\/id.*correct it in the file, its id too/);
    assert.doesNotMatch(store.problems[0], /PUT \/api/);
    assert.throws(() => store.update('too hot!', { ...HOT, id: 'too hot!' }, { actor: 'api', via: 'api' }), (e: RuleInvalidError) => e.code === 'RULE_INVALID');
    assert.match(store.problems[1], /replace it with PUT \/api\/v1\/rules\/b$/, 'a valid id is still offered its PUT');
  });

  it('a stored rule that is not run is replaced by saving a valid rule of its id, or deleted by its id', () => {
    const dir = tempDir('us-rules-');
    const file = join(dir, 'alerts', 'rules.json');
    new RuleStore(dir);
    writeFileSync(file, JSON.stringify({ version: 1, rules: [{ ...HOT, severity: 'loud' }, { ...HOT, id: 'b', name: 'B', severity: 'loud' }] }));
    const store = new RuleStore(dir);
    const who = { actor: 'api', via: 'api' };
    assert.equal(store.update('hot', HOT, who).severity, 'warning');
    store.remove('b', who);
    assert.deepEqual(store.problems, []);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { version: 1, rules: [HOT] });
  });

  it('an import that replaces a stored rule that is not run keeps its text in the audit log; a delete of an id both loaded and kept tells the engine', () => {
    const dir = tempDir('us-rules-');
    const file = join(dir, 'alerts', 'rules.json');
    new RuleStore(dir);
    const failing = { ...HOT, id: 'b', name: 'B', severity: 'loud' };
    writeFileSync(file, JSON.stringify({ version: 1, rules: [HOT, failing, { ...HOT, severity: 'loud' }] }));
    const store = new RuleStore(dir);
    const who = { actor: 'api', via: 'api' };
    const changes: string[] = [];
    store.onChange((c) => changes.push(`${c.type} ${c.type === 'delete' ? c.id : c.rule.id}`));
    assert.deepEqual(store.import({ rules: [{ ...failing, severity: 'info' }] }, 'merge', who), { created: [], updated: ['b'], deleted: [] });
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; before?: { notRun?: Record<string, unknown> } });
    assert.deepEqual(audit.at(-1)?.before?.notRun, { b: failing }, 'the text the import replaced');
    store.remove('hot', who);
    assert.deepEqual(changes, ['upsert b', 'delete hot'], 'the loaded "hot" stops running');
    assert.deepEqual(store.problems, []);
    assert.deepEqual((JSON.parse(readFileSync(file, 'utf8')) as { rules: Array<{ id: string }> }).rules.map((r) => r.id), ['b']);
  });
});
