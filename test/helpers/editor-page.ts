/** The editor in Debian's headless Chromium over a runtime with the default pack, for the editor tests. */
import { chromium, type Browser, type Page } from 'playwright-core';
import { startRuntime, type Runtime, type StartOptions } from './runtime';

/** A runtime (started with `opts`) and a browser; the caller closes both. */
export async function startEditor(opts: StartOptions = {}): Promise<{ rt: Runtime; browser: Browser }> {
  const rt = await startRuntime(opts);
  try {
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    return { rt, browser };
  } catch (err) {
    await rt.stop();
    throw err;
  }
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
