#!/usr/bin/env node
// Runs a command (the test suites) with TMPDIR set to a new folder of its own,
// and removes that folder when the command ends, whatever the outcome. Whatever
// the tests left in it is listed first, as a warning: each test removes its own
// temporary folders (test/helpers/temp.ts), so a name here is a test to fix.
// Usage: node scripts/with-tmpdir.mjs <command> [args...]  ("node" is this node)
import { spawn } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: node scripts/with-tmpdir.mjs <command> [args...]');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'upperstack-run-'));
// Like /tmp: servers the tests start that drop root (mosquitto) must reach their folders in it.
chmodSync(dir, 0o1777);

/** Bytes under `p` (not following links); a file gone meanwhile counts 0. */
function size(p) {
  try {
    const st = lstatSync(p);
    if (!st.isDirectory()) return st.blocks * 512;
    let total = st.blocks * 512;
    for (const name of readdirSync(p)) total += size(join(p, name));
    return total;
  } catch {
    return 0;
  }
}

function human(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) {
    bytes /= 1024;
    i++;
  }
  return `${i === 0 ? bytes : bytes.toFixed(1)} ${units[i]}`;
}

function finish() {
  let left = [];
  try {
    left = readdirSync(dir);
  } catch {
    // removed already
  }
  if (left.length > 0) {
    const rows = left.map((name) => ({ name, bytes: size(join(dir, name)) })).sort((a, b) => b.bytes - a.bytes);
    const total = rows.reduce((a, r) => a + r.bytes, 0);
    console.error(`\nWARNING: the tests left ${left.length} temporary entr${left.length === 1 ? 'y' : 'ies'} (${human(total)}) in ${dir}; removing them now:`);
    for (const r of rows) console.error(`  ${human(r.bytes).padStart(10)}  ${r.name}`);
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
}

const child = spawn(cmd === 'node' ? process.execPath : cmd, args, {
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: dir, TMP: dir, TEMP: dir },
});
// Ctrl-C reaches the whole process group: wait for the command to end, then clean up.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.once('error', (err) => {
  console.error(`cannot run ${cmd}: ${err.message}`);
  finish();
  process.exit(127);
});
child.once('exit', (code, signal) => {
  finish();
  process.exit(code ?? 128 + (constants.signals[signal] ?? 1));
});
