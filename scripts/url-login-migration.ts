/**
 * At every start, before Node-RED reads the flows: a broker login left in clear in a URL in the flows file (by an
 * older start, or by a flow imported and deployed as it was; nodes/lib/flows/url-logins.ts) moves into the
 * sealed credentials file. The log line cannot tell the two apart, so it names both. Node-RED's backups of the two
 * files (`.flows.json.backup`, `.flows_cred.json.backup`, made at each deploy) get the same, or the password
 * would stay in the data folder. The credentials are written first: a start stopped between the two writes
 * finds the login in both and moves it again, to the same place.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../nodes/lib/fs-atomic';
import { openCredentials, sealCredentials, type NodeCredentials } from '../nodes/lib/flows/credentials-file';
import { moveUrlLogins } from '../nodes/lib/flows/url-logins';
import { describeError } from '../nodes/lib/errors';

export interface UrlLoginLines {
  /** What was moved: said once, at the start that moved it. */
  moved: string[];
  /** What could not be: said at every start. */
  warnings: string[];
}

/** Written as Node-RED writes it: indented (flowFilePretty) when it was. */
function flowsText(flows: unknown[], was: string): string {
  const indent = /^\[\s*\n([ \t]+)/.exec(was)?.[1];
  return indent ? JSON.stringify(flows, null, indent.includes('\t') ? '\t' : indent.length) : JSON.stringify(flows);
}

export function moveFlowsUrlLogins(dataDir: string, credentialSecret: string, env: NodeJS.ProcessEnv): UrlLoginLines {
  const out: UrlLoginLines = { moved: [], warnings: [] };
  const pairs: Array<[string, string, boolean]> = [
    ['flows.json', 'flows_cred.json', true],
    ['.flows.json.backup', '.flows_cred.json.backup', false],
  ];
  for (const [flowsName, credName, current] of pairs) {
    const flowsFile = join(dataDir, flowsName);
    const credFile = join(dataDir, credName);
    if (!existsSync(flowsFile)) continue;
    const text = readFileSync(flowsFile, 'utf8');
    // No login without an @: most starts stop here.
    if (!text.includes('@')) continue;
    let flows: unknown;
    try {
      flows = JSON.parse(text);
    } catch {
      continue; // Node-RED says what is wrong with the file
    }
    if (!Array.isArray(flows)) continue;
    let credentials: NodeCredentials;
    try {
      credentials = openCredentials(existsSync(credFile) ? readFileSync(credFile, 'utf8') : '', credentialSecret);
    } catch (err) {
      if (current && moveUrlLogins(flows, {}, env).moved.length) {
        out.warnings.push(`${flowsName} has a login in clear in a URL, left there: ${describeError(err).message}`);
      }
      continue;
    }
    const move = moveUrlLogins(flows, credentials, env);
    if (current) out.warnings.push(...move.left.map((line) => `${flowsName}: ${line}`));
    if (!move.moved.length) continue;
    writeFileAtomic(credFile, sealCredentials(move.credentials, credentialSecret));
    writeFileAtomic(flowsFile, flowsText(move.flows, text));
    const where = current ? `${flowsName} held a password in clear` : `Node-RED's backup of the flows (${basename(flowsFile)}) held a password in clear`;
    out.moved.push(`${where} (in a URL, left by a start from before logins went to the credentials file or by an imported flow): ${move.moved.join('; ')}. It is now only in ${credName}, sealed with the data folder's credential secret.`);
  }
  return out;
}
