/**
 * The device registry's dialog (Debian's headless Chromium): adding a device shows its secret once, with a
 * line that says how many things there are to copy, and the secret shown is the one the device logs in with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { Runtime } from '../helpers/runtime';
import { dialogOpened, loggedInPage, useEditor, type Red } from '../helpers/editor-page';

let rt: Runtime;
let browser: Browser;

useEditor((editor) => {
  ({ rt, browser } = editor);
});

/** Adds `id` in the open dialog (signing or not) and reads what the secret box then shows. */
async function add(page: Page, id: string, signing: boolean): Promise<{ line: string; secret: string; signingKey: string | null }> {
  await page.fill('#upperstack-devices-new-id', id);
  if (signing) await page.check('#upperstack-devices-new-signing');
  else await page.uncheck('#upperstack-devices-new-signing');
  await page.click('#upperstack-devices-add');
  await page.waitForFunction((id) => document.querySelector('#upperstack-devices-secret')?.textContent?.includes(` of ${id}:`), id, { timeout: 30_000 });
  return page.$eval('#upperstack-devices-secret', (box) => ({
    line: box.firstElementChild?.textContent ?? '',
    secret: box.querySelector('.upperstack-devices-secret-value')?.textContent ?? '',
    signingKey: box.querySelector('.upperstack-devices-signing-value')?.textContent ?? null,
  }));
}

test('a device added in the dialog: its secret shown once, "copy it" for a secret alone and "copy them" beside a signing key, and the secret logs in', { timeout: 180_000 }, async () => {
  const { page, pageErrors } = await loggedInPage(browser, rt);
  await page.evaluate(() => (window as unknown as { RED: Red }).RED.editor.editConfig('', 'upperstack-devices', 'us_devices'));
  await dialogOpened(page, '#node-config-input-name');

  const plain = await add(page, 'dlgPlain', false);
  assert.equal(plain.line, 'secret of dlgPlain: copy it now, it is not shown again');
  assert.equal(plain.signingKey, null);
  assert.match(plain.secret, /^\S{20,}$/);

  const signed = await add(page, 'dlgSigned', true);
  assert.equal(signed.line, 'secret and signing key of dlgSigned: copy them now, they are not shown again');
  assert.match(signed.signingKey ?? '', /^[A-Za-z0-9_-]{43}$/);

  const sent = await fetch(`${rt.url}/ingest/dlgPlain`, {
    method: 'POST',
    headers: { authorization: `Bearer ${plain.secret}`, 'content-type': 'application/json' },
    body: '{"temperature":21.5}',
  });
  assert.ok(sent.status >= 200 && sent.status < 300, `the secret shown logs in: ${sent.status} ${await sent.text()}`);
  const wrong = await fetch(`${rt.url}/ingest/dlgPlain`, {
    method: 'POST',
    headers: { authorization: `Bearer ${signed.secret}`, 'content-type': 'application/json' },
    body: '{"temperature":21.5}',
  });
  assert.equal(wrong.status, 401, 'another device\'s secret does not');

  await page.click('#node-config-dialog-cancel');
  await page.waitForSelector('#node-config-dialog-cancel', { state: 'detached', timeout: 30_000 });
  assert.deepEqual(pageErrors, []);
});
