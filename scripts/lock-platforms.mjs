#!/usr/bin/env node
// The registry this project is developed against serves only some platform
// builds of packages such as @duckdb/node-bindings-*; npm then leaves the other
// platforms out of package-lock.json and `npm ci` refuses the lock. This adds
// the missing optional platform entries (os/cpu/libc from the name, no
// tarball), which npm skips on a non-matching machine and fetches on a
// matching one. Run after `npm install` changes the lock.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;
let added = 0;
for (const [path, entry] of Object.entries(pkgs)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (pkgs[key] || pkgs[`${path}/node_modules/${name}`]) continue;
    const m = /-(darwin|linux|win32|freebsd|android)-(x64|arm64|arm|ia32|ppc64|s390x|riscv64)(-(musl|gnu))?$/.exec(name);
    if (!m) continue;
    const version = String(range).replace(/^[\^~=]/, '');
    pkgs[key] = { version, cpu: [m[2]], optional: true, os: [m[1]], ...(m[4] ? { libc: [m[4] === 'musl' ? 'musl' : 'glibc'] } : {}) };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} platform entries`);
