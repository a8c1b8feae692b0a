#!/usr/bin/env node
// Compiles the TypeScript sources to dist/ and copies what Node-RED loads beside
// the compiled runtime: editor .html, locales and icons. flows/ becomes examples/
// so the flow packs show under Import > Examples.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

if (process.argv.includes('--if-stale') && existsSync(join(dist, '.built'))) {
  const built = statSync(join(dist, '.built')).mtimeMs;
  const sources = ['nodes', 'scripts', 'test', 'bench', 'flows', 'proto', 'schemas', 'settings.ts', 'tsconfig.json']
    .map((p) => join(root, p))
    .map((p) => (existsSync(p) && statSync(p).isDirectory() ? newestMtime(p) : existsSync(p) ? statSync(p).mtimeMs : 0));
  if (Math.max(...sources) <= built) process.exit(0);
}

// --clean (npm pack's prepack): a dist/ without what earlier builds left, so a moved or deleted module is not published.
// Not on prepare: npx runs prepare in a checkout the first time it is asked for the package's own bin
// (`npx upperstack devices add`), and a clean build there deleted the dist/ a running `npm start` loads from.
if (process.argv.includes('--clean')) rmSync(dist, { recursive: true, force: true });

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });

// Editor files, locales and icons sit next to each node's compiled .js.
function copyAssets(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'locales' || entry.name === 'icons') {
        cpSync(p, join(dist, relative(root, p)), { recursive: true });
      } else {
        copyAssets(p);
      }
    } else if (entry.name.endsWith('.html')) {
      const target = join(dist, relative(root, p));
      mkdirSync(dirname(target), { recursive: true });
      cpSync(p, target);
    }
  }
}
copyAssets(join(root, 'nodes'));

rmSync(join(root, 'examples'), { recursive: true, force: true });
if (existsSync(join(root, 'flows'))) cpSync(join(root, 'flows'), join(root, 'examples'), { recursive: true });

mkdirSync(dist, { recursive: true });
cpSync(join(root, 'tsconfig.json'), join(dist, '.built'));
