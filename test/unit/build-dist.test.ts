/**
 * `node scripts/build.mjs` after a test or module is renamed or deleted: its compiled .js leaves dist/, so
 * `npm test` (every dist/test/**\/*.test.js) stops running a test whose source is gone, while the editor
 * files and locales copied beside the runtime stay. Built in a small checkout of its own, with this one's
 * TypeScript.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../nodes/lib/paths';
import { tempDir } from '../helpers/temp';

const repo = packageRoot();

interface BuildDist {
  removeOrphans(root: string, dist: string): string[];
  isStale(root: string, dist: string): boolean;
}
const buildDist = async () => (await import(pathToFileURL(join(repo, 'scripts', 'build-dist.mjs')).href)) as BuildDist;

function write(root: string, rel: string, text = '') {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), text);
}

/** Every file under `dir`, relative, sorted. */
function files(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(dir, join(prefix, e.name)) : [join(prefix, e.name)]))
    .sort();
}

/** Sets every file and folder under `dir` (and `dir`) to `when`, as a checkout last touched then. */
function touchAll(dir: string, when: Date) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory() && e.name !== 'node_modules') touchAll(join(dir, e.name), when);
    else if (!e.isSymbolicLink()) utimesSync(join(dir, e.name), when, when);
  }
  utimesSync(dir, when, when);
}

/** A checkout with the real build script, a node, its editor file and locale, and a unit test. */
function checkout(): string {
  const root = tempDir('us-build-');
  for (const f of ['build.mjs', 'build-dist.mjs']) cpSync(join(repo, 'scripts', f), join(root, 'scripts', f));
  cpSync(join(repo, 'tsconfig.json'), join(root, 'tsconfig.json'));
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
  write(root, 'nodes/lamp/lamp.ts', 'export const lamp = 1;\n');
  write(root, 'nodes/lamp/lamp.html', '<script type="text/html" data-template-name="lamp"></script>\n');
  write(root, 'nodes/lamp/locales/en-US/lamp.json', '{"lamp":{"label":"lamp"}}\n');
  write(root, 'test/unit/old-name.test.ts', "import { lamp } from '../../nodes/lamp/lamp';\nexport const seen = lamp;\n");
  return root;
}

const build = (root: string, ...args: string[]) => execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), ...args], { cwd: root, stdio: 'pipe' });

test('a test renamed after a build: the next `npm test` build (--if-stale) drops the old compiled test and compiles the new one; editor files stay', () => {
  const root = checkout();
  build(root);
  assert.deepEqual(files(join(root, 'dist')), [
    '.built',
    'nodes/lamp/lamp.html',
    'nodes/lamp/lamp.js',
    'nodes/lamp/lamp.js.map',
    'nodes/lamp/locales/en-US/lamp.json',
    'test/unit/old-name.test.js',
    'test/unit/old-name.test.js.map',
  ]);
  // The sources as last changed a while before that build; `mv` keeps the file's own time.
  touchAll(root, new Date('2020-01-01T00:00:00Z'));
  utimesSync(join(root, 'dist', '.built'), new Date('2021-01-01T00:00:00Z'), new Date('2021-01-01T00:00:00Z'));
  renameSync(join(root, 'test/unit/old-name.test.ts'), join(root, 'test/unit/new-name.test.ts'));

  build(root, '--if-stale');
  const dist = files(join(root, 'dist'));
  assert.ok(dist.includes('test/unit/new-name.test.js'), dist.join(', '));
  assert.deepEqual(dist.filter((f) => f.includes('old-name')), []);
  for (const kept of ['nodes/lamp/lamp.html', 'nodes/lamp/locales/en-US/lamp.json', 'nodes/lamp/lamp.js']) assert.ok(dist.includes(kept), kept);
});

test('a module deleted: the build removes its .js, map and declarations and the folder they leave empty, nothing else', async () => {
  const { removeOrphans } = await buildDist();
  const root = tempDir('us-orphans-');
  write(root, 'nodes/lib/kept.ts');
  write(root, 'nodes/lamp/lamp.html');
  // A file copied as it is (same path in the checkout) is not an output, whatever its name.
  write(root, 'nodes/lamp/icons/blink.js');
  const dist = join(root, 'dist');
  for (const f of [
    '.built',
    'nodes/lib/kept.js', 'nodes/lib/kept.js.map', 'nodes/lib/kept.d.ts',
    'nodes/lib/gone.js', 'nodes/lib/gone.js.map', 'nodes/lib/gone.d.ts', 'nodes/lib/gone.d.ts.map',
    'nodes/lamp/lamp.html', 'nodes/lamp/locales/en-US/lamp.json', 'nodes/lamp/icons/blink.js',
    'test/moved/away.test.js', 'test/moved/away.test.js.map',
  ]) write(dist, f);

  const removed = removeOrphans(root, dist).sort();
  assert.deepEqual(removed, ['nodes/lib/gone.d.ts', 'nodes/lib/gone.d.ts.map', 'nodes/lib/gone.js', 'nodes/lib/gone.js.map', 'test/moved/away.test.js', 'test/moved/away.test.js.map']);
  assert.deepEqual(files(dist), ['.built', 'nodes/lamp/icons/blink.js', 'nodes/lamp/lamp.html', 'nodes/lamp/locales/en-US/lamp.json', 'nodes/lib/kept.d.ts', 'nodes/lib/kept.js', 'nodes/lib/kept.js.map']);
  assert.equal(existsSync(join(dist, 'test', 'moved')), false, 'the emptied folder is gone');
  assert.deepEqual(removeOrphans(root, dist), [], 'a second pass finds nothing');
});

test('--if-stale sees a source deleted or renamed since the build, though no file is newer than the build', async () => {
  const { isStale } = await buildDist();
  const root = tempDir('us-stale-');
  write(root, 'test/unit/a.test.ts');
  write(root, 'test/unit/b.test.ts');
  write(root, 'dist/.built');
  touchAll(join(root, 'test'), new Date('2020-01-01T00:00:00Z'));
  utimesSync(join(root, 'dist', '.built'), new Date('2021-01-01T00:00:00Z'), new Date('2021-01-01T00:00:00Z'));
  assert.equal(isStale(root, join(root, 'dist')), false, 'nothing changed since the build');

  rmSync(join(root, 'test/unit/a.test.ts'));
  assert.equal(isStale(root, join(root, 'dist')), true, 'a deleted test');

  touchAll(join(root, 'test'), new Date('2020-01-01T00:00:00Z'));
  renameSync(join(root, 'test/unit/b.test.ts'), join(root, 'test/unit/c.test.ts'));
  assert.equal(statSync(join(root, 'test/unit/c.test.ts')).mtime.toISOString(), '2020-01-01T00:00:00.000Z', 'a rename keeps the time');
  assert.equal(isStale(root, join(root, 'dist')), true, 'a renamed test');
});
