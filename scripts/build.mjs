#!/usr/bin/env node
// Compiles the TypeScript sources to dist/ and copies what Node-RED loads beside
// the compiled runtime: editor .html, locales and icons. flows/ becomes examples/
// so the flow packs show under Import > Examples.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isStale, removeOrphans } from './build-dist.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

if (process.argv.includes('--if-stale') && !isStale(root, dist)) process.exit(0);

// --clean (npm pack's prepack): a dist/ without what earlier builds left, so a moved or deleted module is not published.
// Not on prepare: npx runs prepare in a checkout the first time it is asked for the package's own bin
// (`npx upperstack devices add`), and a clean build there deleted the dist/ a running `npm start` loads from.
if (process.argv.includes('--clean')) rmSync(dist, { recursive: true, force: true });

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
// tsc never deletes: a renamed or deleted module's old .js stayed in dist/, and `npm test`, which runs every
// dist/test/**/*.test.js, kept running a test whose source was gone.
removeOrphans(root, dist);

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
