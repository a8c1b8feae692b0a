/** The editor and the runtime's pages in Debian's headless Chromium over a runtime with the default pack, for the browser tests. */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { adminToken, startRuntime, type Runtime, type StartOptions } from './runtime';
import { tempDir } from './temp';

/** Headless Chromium (CHROMIUM_PATH, else Debian's); the caller closes it. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export type Editor = { rt: Runtime; browser: Browser };

/** A runtime (started with `opts`) and a browser; the caller closes both. */
export async function startEditor(opts: StartOptions = {}): Promise<Editor> {
  const rt = await startRuntime(opts);
  try {
    return { rt, browser: await launchBrowser() };
  } catch (err) {
    await rt.stop();
    throw err;
  }
}

/**
 * Call at the top of a test file: before its tests, a runtime and a browser (startEditor with `opts`, or with
 * what `opts` gives when called then) handed to `started`, which may prepare more; after them, both closed,
 * also when `started` failed. What the runtime needs started first belongs in `opts`, not in a `before` of
 * the file's own: Node 20 starts a file's `before` hooks without waiting for the one before.
 */
export function useEditor(started: (editor: Editor) => void | Promise<void>, opts: StartOptions | (() => StartOptions | Promise<StartOptions>) = {}): void {
  let editor: Editor | undefined;
  before(async () => {
    editor = await startEditor(typeof opts === 'function' ? await opts() : opts);
    await started(editor);
  });
  after(async () => {
    await editor?.browser.close();
    await editor?.rt.stop();
  });
}

/** A new data folder (`prefix`) whose upperstack-users.json lets `users` log in to the runtime's pages, each with its password and role. */
export function dataDirWithUsers(prefix: string, users: Array<{ username: string; password: string; role: string }>): string {
  const dataDir = tempDir(prefix);
  writeFileSync(join(dataDir, 'upperstack-users.json'), JSON.stringify(users.map((u) => ({ ...u, password: bcrypt.hashSync(u.password, 8) }))));
  return dataDir;
}

/** Deploys `nodes` beside the flows `rt` runs (a full deploy through the admin API, as an import and Deploy would). */
export async function deployBeside(rt: Runtime, nodes: unknown[]): Promise<void> {
  const headers = { authorization: `Bearer ${await adminToken(rt)}`, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2' };
  const current = (await (await fetch(`${rt.url}/flows`, { headers })).json()) as { rev: string; flows: unknown[] };
  const res = await fetch(`${rt.url}/flows`, { method: 'POST', headers: { ...headers, 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify({ rev: current.rev, flows: [...current.flows, ...nodes] }) });
  assert.equal(res.status, 200, await res.text());
}

/** Opens the editor and logs in; resolves once the graph is drawn. */
export async function login(page: Page, rt: Runtime): Promise<void> {
  await page.goto(rt.url + '/');
  await page.waitForSelector('#node-dialog-login-username', { timeout: 30_000 });
  await page.fill('#node-dialog-login-username', 'admin');
  await page.fill('#node-dialog-login-password', 'test-admin-password');
  await page.click('#node-dialog-login-submit');
  await page.waitForSelector('#red-ui-workspace-chart .red-ui-flow-node', { timeout: 30_000 });
}

/** A new page of `browser`, logged in to the editor of `rt`, and the script errors it raises. */
export async function loggedInPage(browser: Browser, rt: Runtime): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await login(page, rt);
  return { page, pageErrors };
}

/**
 * Waits until an edit dialog has finished opening. Its fields show at once, but the tray slides in on timers
 * and, once in place, moves the focus to its first field. Playwright's fill focuses a field and types in a
 * second step; under load the move can fall between the two, and the keys go to the first field instead.
 * A person waits for the dialog too.
 */
export async function dialogOpened(page: Page, selector: string): Promise<void> {
  await page.waitForSelector(selector, { state: 'visible', timeout: 30_000 });
  await page.waitForFunction(() => document.activeElement?.closest('.red-ui-tray') != null, undefined, { timeout: 30_000 });
}

/** The part of the editor's RED the dialog tests drive. */
export type Red = {
  nodes: { id(): string; import(n: unknown[], o: unknown): void; node(id: string): unknown; remove(id: string): void; eachConfig(cb: (n: { id: string; type: string }) => void): void; dirty(): boolean };
  workspaces: { active(): string };
  settings: { get(key: string): unknown };
  editor: { edit(n: unknown): void; editConfig(name: string, type: string, id: string): void };
};

/** Opens the alerts page /upperstack/alerts of `rt` in `page` and logs in as admin; resolves once the page is drawn. */
export async function alertsPageLogin(page: Page, rt: Runtime): Promise<void> {
  await page.goto(`${rt.url}/upperstack/alerts`);
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 30_000 });
  await page.fill('#username', 'admin');
  await page.fill('#password', 'test-admin-password');
  await page.click('#login-submit');
  await page.waitForSelector('#app', { state: 'visible', timeout: 30_000 });
}
