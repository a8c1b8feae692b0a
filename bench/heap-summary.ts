/**
 * Summarises a .heapprofile written under the benchmark (BENCH_PROFILE_DIR with
 * BENCH_HEAP_PROFILE=1): bytes allocated per reading by function and by the
 * nearest Upperstack function on the stack (library allocations charged to the
 * Upperstack code that called into the library).
 * Run: node dist/bench/heap-summary.js <file.heapprofile> <readings in the window> [top]
 */
import { readFileSync } from 'node:fs';
import { frameOwner } from './frame-owner';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children?: HeapNode[];
}


function main(): void {
  const [file, readingsArg, topArg] = process.argv.slice(2);
  const readings = Number(readingsArg);
  if (!file || !(readings > 0)) {
    process.stderr.write('usage: node dist/bench/heap-summary.js <file.heapprofile> <readings> [top]\n');
    process.exit(2);
  }
  const top = Number(topArg) || 25;
  const head = (JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode }).head;
  const self = new Map<string, number>();
  const charged = new Map<string, number>();
  let total = 0;
  // Iterative walk: allocation stacks can be deep.
  const todo: Array<{ n: HeapNode; ours: string | undefined }> = [{ n: head, ours: undefined }];
  while (todo.length) {
    const { n, ours } = todo.pop()!;
    const key = `${n.callFrame.functionName || '(anonymous)'}  ${frameOwner(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    const mine = frameOwner(n.callFrame.url).startsWith('dist/') ? key : ours;
    total += n.selfSize;
    if (n.selfSize) {
      self.set(key, (self.get(key) ?? 0) + n.selfSize);
      const to = mine ?? '(no Upperstack caller)';
      charged.set(to, (charged.get(to) ?? 0) + n.selfSize);
    }
    for (const c of n.children ?? []) todo.push({ n: c, ours: mine });
  }
  const line = (bytes: number, what: string) => `${(bytes / readings).toFixed(0).padStart(7)} B  ${what}`;
  const out = [`${file}: ${(total / readings).toFixed(0)} bytes allocated per reading (${readings} readings)`, '', 'by function'];
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(line(v, k));
  out.push('', 'by nearest Upperstack caller');
  for (const [k, v] of [...charged].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(line(v, k));
  process.stdout.write(out.join('\n') + '\n');
}

main();
