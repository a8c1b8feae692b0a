import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleStore, ruleRevision } from '../../nodes/lib/rules/store';
import { ConflictError } from '../../nodes/lib/errors';
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
});
