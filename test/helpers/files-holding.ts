/** Where a secret ended up: the files of a data folder that hold a text, for the tests that look for secrets in clear. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under `dir` holding `text` (links, such as the package's in node_modules, not followed). */
export function filesHolding(dir: string, text: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesHolding(path, text));
    else if (e.isFile() && readFileSync(path).includes(text)) out.push(path);
  }
  return out;
}
