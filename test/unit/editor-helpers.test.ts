/**
 * The rules in resources/editor.js that decide whether a dialog accepts a value,
 * run in a bare context: numbers and limits, and what counts as a legacy node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { shownUrl, splitUrlLogin } from '../../nodes/lib/security/url-login';

type Validator = (this: unknown, v: unknown, opt?: unknown) => true | string;
interface Editor {
  wholeValidator(spec: { min: number; max: number; value: number; zeroWasDefault?: boolean }, message: () => string): Validator;
  oneOf(list: unknown[], message: () => string): Validator;
  translator(def: { _?: (key: string) => string }): (key: string, subs: object, fallback: string) => string;
  splitUrlLogin(url: string): { url: string; username: string; password: string } | undefined;
  shownUrl(url: string): string;
}

const source = readFileSync(join(__dirname, '..', '..', '..', 'resources', 'editor.js'), 'utf8');
const window: { UpperstackEditor?: Editor } = {};
runInNewContext(source, { window });
const ed = window.UpperstackEditor!;

const current = { configVersion: 1 };
const legacy = {};

test('a whole number is accepted from min to max inclusive, as typed text too', () => {
  const check = ed.wholeValidator({ min: 1, max: 3600000, value: 100 }, () => 'bad');
  for (const v of [1, '1', ' 42 ', 3600000]) assert.equal(check.call(current, v), true, String(v));
  for (const v of [0, 3600001, '', '1.5', '1e3', '-1', '0x10', 'soon', null]) assert.equal(check.call(current, v), 'bad', String(v));
});

test('a legacy node passes without the option; zero or empty only where they meant the default', () => {
  const zeroDefault = ed.wholeValidator({ min: 1, max: 10, value: 5, zeroWasDefault: true }, () => 'bad');
  const zeroValid = ed.wholeValidator({ min: 0, max: 10, value: 5 }, () => 'bad');
  for (const v of [undefined, null]) {
    assert.equal(zeroDefault.call(legacy, v), true);
    assert.equal(zeroDefault.call(current, v), 'bad');
  }
  for (const v of [0, '0', '']) {
    assert.equal(zeroDefault.call(legacy, v), true, String(v));
    assert.equal(zeroDefault.call(current, v), 'bad', String(v));
  }
  assert.equal(zeroValid.call(legacy, ''), 'bad');
  assert.equal(zeroDefault.call(legacy, 11), 'bad');
});

test('validators take (v, opt), so the editor shows their reason instead of counting it as valid', () => {
  assert.equal(ed.wholeValidator({ min: 0, max: 1, value: 0 }, () => '').length, 2);
  assert.equal(ed.oneOf([], () => '').length, 2);
});

test('a choice must be one of the list unless a legacy node lacks it', () => {
  const check = ed.oneOf(['readings', 'aggregate'], () => 'bad');
  assert.equal(check.call(current, 'aggregate'), true);
  assert.equal(check.call(current, 'sum'), 'bad');
  assert.equal(check.call(current, undefined), 'bad');
  assert.equal(check.call(legacy, undefined), true);
  assert.equal(check.call(legacy, 'sum'), 'bad');
});

test('tr uses the catalogue registered later, and the fallback when it lacks the key', () => {
  const def: { _?: (key: string) => string } = {};
  const tr = ed.translator(def);
  assert.equal(tr('a.b', {}, 'fallback'), 'fallback');
  def._ = (key) => (key === 'a.b' ? 'translated' : key);
  assert.equal(tr('a.b', {}, 'fallback'), 'translated');
  assert.equal(tr('a.c', {}, 'fallback'), 'fallback');
});

test('a login in a broker URL is split off in the editor as the runtime splits it, and a label shows no password', () => {
  const urls = ['mqtt://bob:s3cret@broker:1883', 'mqtts://bob:p%40ss%3Aw@broker:8883/', 'ws://a:b:c@host/mqtt', 'wss://user%20x:pw@h'];
  for (const url of urls) {
    assert.deepEqual({ ...ed.splitUrlLogin(url) }, splitUrlLogin(url), url);
    assert.equal(ed.shownUrl(url), shownUrl(url), url);
    assert.ok(!ed.shownUrl(url).includes(splitUrlLogin(url)!.password!), url);
  }
  // Nothing secret to take out: left as it is.
  for (const url of ['mqtt://broker:1883', 'mqtt://bob@broker:1883', '${UPPERSTACK_MQTT_URL}', '']) {
    assert.equal(ed.splitUrlLogin(url), undefined, url);
    assert.equal(ed.shownUrl(url), url);
  }
});
