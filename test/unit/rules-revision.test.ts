import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleStore, ruleRevision } from '../../nodes/lib/rules/store';
import { ConflictError, NotFoundError } from '../../nodes/lib/errors';
import type { Rule } from '../../nodes/lib/rules/types';
import { tempDir } from '../helpers/temp';

const HOT: Rule = { id: 'hot', name: 'Too hot', devices: { all: true }, when: { field: 't', op: 'above', value: 30 }, severity: 'warning' };
const ann = { actor: 'ann', via: 'page' };
const bob = { actor: 'bob', via: 'editor' };

describe('saving a rule on the version it was opened at', () => {
  it('a save made on an older version is refused, naming who changed the rule, and changes nothing', () => {
    const store = new RuleStore(tempDir('us-rule-rev-'));
    store.create(HOT, ann);
    const opened = store.revisions().hot;
    assert.equal(opened, ruleRevision(store.get('hot')));
    store.update('hot', { ...HOT, when: { ...HOT.when, value: 35 } }, ann, opened);
    assert.throws(
      () => store.update('hot', { ...HOT, severity: 'critical' }, bob, opened),
      (err: unknown) => err instanceof ConflictError && /the rule "Too hot" was changed by ann \(page\) at .* UTC after you opened it/.test(err.message),
    );
    assert.deepEqual([store.get('hot').when, store.get('hot').severity], [{ field: 't', op: 'above', value: 35 }, 'warning']);
    // On the version it has now, the save goes through; without a version it always did.
    store.update('hot', { ...HOT, when: { ...HOT.when, value: 35 }, severity: 'critical' }, bob, store.revisions().hot);
    store.update('hot', { ...HOT, name: 'Hot' }, bob);
    assert.equal(store.get('hot').name, 'Hot');
  });

  it('a silence does not change the version, and a save on a version keeps the silences the rule has', () => {
    const store = new RuleStore(tempDir('us-rule-rev-'));
    store.create(HOT, ann);
    const opened = store.revisions().hot;
    const to = new Date(Date.now() + 3_600_000).toISOString();
    store.silence('hot', { from: new Date().toISOString(), to, devices: ['d1'], by: 'otto' }, { actor: 'otto', via: 'page' });
    assert.equal(store.revisions().hot, opened);
    store.update('hot', { ...HOT, message: '{device} is hot' }, ann, opened);
    assert.deepEqual(store.get('hot').silences?.map((s) => s.to), [to]);
    assert.equal(store.get('hot').message, '{device} is hot');
    // A save that gives silences (the API's) sets them.
    store.update('hot', { ...HOT, silences: [] }, ann, store.revisions().hot);
    assert.deepEqual(store.get('hot').silences ?? [], []);
  });

  it('a save on a rule deleted since it was opened says who deleted it and when, and how to keep the change; nothing is saved', () => {
    const store = new RuleStore(tempDir('us-rule-rev-'));
    store.create(HOT, ann);
    const opened = store.revisions().hot;
    store.remove('hot', bob);
    const deleted = (err: unknown, tail: RegExp) => {
      assert.ok(err instanceof NotFoundError);
      assert.match(err.message, /^the rule "Too hot" \(hot\) was deleted by bob \(editor\) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
      assert.match(err.message, tail);
      assert.deepEqual(Object.keys(err.details.deleted as object), ['by', 'via', 'at']);
      assert.equal((err.details.deleted as { by: string }).by, 'bob');
      return true;
    };
    assert.throws(() => store.update('hot', { ...HOT, severity: 'critical' }, ann, opened), (e) => deleted(e, / after you opened it: your change was not saved; to keep it, save it as a new rule$/));
    // Without the version it was opened at (the API without If-Match), and on a read: who deleted it all the same.
    assert.throws(() => store.update('hot', HOT, ann), (e) => deleted(e, /UTC$/));
    assert.throws(() => store.get('hot'), (e) => deleted(e, /UTC$/));
    assert.deepEqual(store.list(), []);
    // Saved anew, it is a rule again; a rule never heard of is still just not there.
    store.create({ ...HOT, severity: 'critical' }, ann);
    assert.equal(store.get('hot').severity, 'critical');
    assert.throws(() => store.update('nope', HOT, ann), /^NotFoundError: no rule "nope"$/);
  });

  it('deleted in an earlier run, so who did it is not known: a save on the version opened still says the rule was deleted', () => {
    const dir = tempDir('us-rule-rev-');
    const store = new RuleStore(dir);
    store.create(HOT, ann);
    const opened = store.revisions().hot;
    store.remove('hot', bob);
    assert.throws(() => new RuleStore(dir).update('hot', HOT, ann, opened), (err: unknown) => err instanceof NotFoundError && err.message === 'the rule "hot" was deleted after you opened it: your change was not saved; to keep it, save it as a new rule');
  });
});
