/**
 * Summarises a .cpuprofile written under the benchmark (BENCH_PROFILE_DIR):
 * self time by function and by file/package, and total (inclusive) time of the
 * Upperstack functions. Run: node dist/bench/profile-summary.js <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';
import { frameOwner } from './frame-owner';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}


function main(): void {
  const file = process.argv[2];
  const top = Number(process.argv[3]) || 30;
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;

  const isOurs = (n: ProfileNode) => n.callFrame.url.includes('/dist/nodes/');
  // Self time outside Upperstack code, charged to the nearest Upperstack frame above it.
  const charged = new Map<string, number>();
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  // Inclusive time per function, counted once per sample even under recursion.
  const fnTotal = new Map<string, number>();
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}  ${frameOwner(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    fnSelf.set(key(n), (fnSelf.get(key(n)) ?? 0) + us);
    const w = n.callFrame.url ? frameOwner(n.callFrame.url) : n.callFrame.functionName || '(native)';
    fileSelf.set(w, (fileSelf.get(w) ?? 0) + us);
    if (!isOurs(n)) {
      let cur = parent.get(id);
      while (cur !== undefined && !isOurs(byId.get(cur)!)) cur = parent.get(cur);
      const w2 = n.callFrame.url ? frameOwner(n.callFrame.url) : n.callFrame.functionName || '(native)';
      const k2 = `${w2}  <-  ${cur === undefined ? '(no Upperstack caller)' : key(byId.get(cur)!)}`;
      charged.set(k2, (charged.get(k2) ?? 0) + us);
    }
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      fnTotal.set(k, (fnTotal.get(k) ?? 0) + us);
    }
  }
  const print = (title: string, m: Map<string, number>, filter: (k: string) => boolean = () => true) => {
    console.log(`\n${title}`);
    for (const [k, us] of [...m].filter(([k2]) => filter(k2)).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  };
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
  print('self time by file / package', fileSelf);
  print('self time by function', fnSelf);
  print('inclusive time, Upperstack code', fnTotal, (k) => k.includes('dist/nodes') || k.includes('dist/settings'));
  print('self time of other code, by nearest Upperstack caller', charged);
}

main();
