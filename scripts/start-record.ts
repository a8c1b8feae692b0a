/**
 * UPPERSTACK_PACKS, UPPERSTACK_STORE and UPPERSTACK_CLUSTER_BROKER shape the flows a data folder gets at its first start and nothing
 * after: a later start with other values runs the flows it has. That start says so, one line per variable, with
 * how to apply the new value, instead of leaving the operator to wonder why the setting did nothing. What the
 * first start used is kept beside the flows (`upperstack-first-start.json`); a data folder from before that file
 * cannot tell, so a variable set there is said to perhaps differ.
 *
 * The broker URL may carry a password (`mqtts://member:password@broker:8883`): the file keeps the URL with the
 * password hidden (shownUrl) and a salted scrypt digest of the password, never the password, so a later start
 * still notices a changed password. A record from before that, with the URL as given, is rewritten so at the
 * next start.
 *
 * Every start also names the variables the deployed packs need (their tabs' `envNeeded`) that are unset: a
 * pack imported later, or a variable dropped from the environment since, fails just the same.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashSecretSync, verifySecretSync } from '../nodes/lib/devices/secret';
import { unsetEnvNeeds } from '../nodes/lib/flows/env-needs';
import { shownUrl, urlPassword } from '../nodes/lib/security/url-login';
import type { FlowNode } from '../nodes/lib/flows/validate';
import type { StoreMode } from '../nodes/lib/store/store-mode';

export const START_RECORD = 'upperstack-first-start.json';

export interface StartRecord {
  /** The packs deployed beside the default one, as UPPERSTACK_PACKS named them. */
  packs: string[];
  store: StoreMode;
  /** UPPERSTACK_CLUSTER_BROKER as the first start had it ('' when not a cluster member); absent in records from before it was kept. */
  cluster?: string;
}

/** The record as the file keeps it: the broker URL's password only as a digest. */
interface KeptRecord {
  packs: string[];
  store: StoreMode;
  /** The broker URL as shownUrl() shows it (password replaced by ***). */
  cluster?: string;
  /** The scrypt hash (hashSecretSync) of the broker URL's password; absent when it has none. */
  clusterPassword?: string;
}

/**
 * The digest of a broker URL's password is the secrets' scrypt hash (nodes/lib/devices/secret.ts). Records from
 * before kept it as `scrypt:<salt>:<hash>`, made with Node's scryptSync defaults (N = 2^14, r = 8, p = 1, 32
 * bytes): the same parameters, so such a digest is read as that hash.
 */
function passwordMatches(password: string | undefined, digest: string | undefined): boolean {
  if (password === undefined || digest === undefined) return password === digest;
  const older = /^scrypt:([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)$/.exec(digest);
  return verifySecretSync(password, older ? `scrypt$14$8$1$${older[1]}$${older[2]}` : digest);
}

function kept(record: StartRecord): KeptRecord {
  const out: KeptRecord = { packs: record.packs, store: record.store };
  if (record.cluster === undefined) return out;
  out.cluster = shownUrl(record.cluster);
  const password = urlPassword(record.cluster);
  if (password !== undefined) out.clusterPassword = hashSecretSync(password);
  return out;
}

/** Whether `broker` is the broker the record kept, password included. */
function sameBroker(broker: string, record: KeptRecord): boolean {
  return shownUrl(broker) === record.cluster && passwordMatches(urlPassword(broker), record.clusterPassword);
}

export function packNames(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** Kept when the first start writes the flows; the broker's password only as a digest. */
export function keepStartRecord(dataDir: string, record: StartRecord): void {
  writeKept(dataDir, kept(record));
}

function writeKept(dataDir: string, record: KeptRecord): void {
  writeFileSync(join(dataDir, START_RECORD), JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
}

function readStartRecord(dataDir: string): KeptRecord | undefined {
  const file = join(dataDir, START_RECORD);
  if (!existsSync(file)) return undefined;
  let r: Partial<KeptRecord>;
  try {
    r = JSON.parse(readFileSync(file, 'utf8')) as Partial<KeptRecord>;
  } catch {
    return undefined; // Unreadable: treated as a data folder from before the record.
  }
  if (!Array.isArray(r.packs) || typeof r.store !== 'string') return undefined;
  const record: KeptRecord = { packs: r.packs.map(String), store: r.store };
  if (typeof r.cluster !== 'string') return record;
  if (typeof r.clusterPassword === 'string') return { ...record, cluster: r.cluster, clusterPassword: r.clusterPassword };
  // A record from before the digest keeps the URL as given, a password in it included: rewritten without it.
  const rewritten = kept({ ...record, cluster: r.cluster });
  if (rewritten.clusterPassword !== undefined) {
    try {
      writeKept(dataDir, rewritten);
    } catch {
      // Left as it is; the comparison below holds all the same.
    }
  }
  return rewritten;
}

const list = (names: string[]) => (names.length ? names.join(',') : 'none');

const PACKS_HOW =
  'import a pack into the running runtime with `npx upperstack flows import flows/<pack>.json` (or the editor\'s Import › Examples), delete a pack\'s tabs in the editor';
const CLUSTER_HOW = 'start with a new data folder (a member\'s flows take the broker and the shared server at their first start; docs/scaling.md)';

const STORE_HOW = 'change the sinks of the store config ("embedded DuckDB") in the editor, or start with a new data folder';

/** One line per first-start-only variable this later start sets otherwise than the first start did. */
export function notAppliedLines(dataDir: string, env: NodeJS.ProcessEnv, store: StoreMode): string[] {
  const record = readStartRecord(dataDir);
  const packs = packNames(env.UPPERSTACK_PACKS);
  const storeSet = (env.UPPERSTACK_STORE ?? '').trim() !== '';
  const broker = (env.UPPERSTACK_CLUSTER_BROKER ?? '').trim();
  const lines: string[] = [];
  if (!record || record.cluster === undefined) {
    if (broker) lines.push(`UPPERSTACK_CLUSTER_BROKER=${shownUrl(broker)} is not applied: it is used only when the data folder gets its flows (first start), and this one's may differ; to change it, ${CLUSTER_HOW}`);
  } else if (!sameBroker(broker, record)) {
    // Only the password differs: both URLs show the same, so the line says what does.
    const other = shownUrl(broker) === record.cluster ? ' with another password' : '';
    const was = record.cluster ? `as a member of the cluster at ${record.cluster}${other}` : 'as no cluster member';
    lines.push(`UPPERSTACK_CLUSTER_BROKER${broker ? `=${shownUrl(broker)}` : ' (unset)'} is not applied: this data folder got its flows ${was} (first start); to change it, ${CLUSTER_HOW}`);
  }
  if (!record) {
    if (packs.length) lines.push(`UPPERSTACK_PACKS=${packs.join(',')} is not applied: it is used only when the data folder gets its flows (first start), and this one's may differ; to add a pack, ${PACKS_HOW}`);
    if (storeSet) lines.push(`UPPERSTACK_STORE=${store} is not applied: it is used only when the data folder gets its flows (first start), and this one's may differ; to change the store, ${STORE_HOW}`);
    return lines;
  }
  // Unset, they ask for nothing: a start after the first one usually leaves them out, and is told nothing.
  if (packs.length && list(packs) !== list(record.packs)) {
    lines.push(`UPPERSTACK_PACKS=${packs.join(',')} is not applied: this data folder got its flows with ${list(record.packs)} beside the default pack (first start); to change them, ${PACKS_HOW}`);
  }
  if (storeSet && store !== record.store) {
    lines.push(`UPPERSTACK_STORE=${store} is not applied: this data folder got its flows with the store ${record.store} (first start); to change the store, ${STORE_HOW}`);
  }
  return lines;
}

/** One line per variable a deployed tab declares it needs (`envNeeded`) that is unset. */
export function deployedEnvWarnings(flowFile: string, env: NodeJS.ProcessEnv): string[] {
  let flows: unknown;
  try {
    flows = JSON.parse(readFileSync(flowFile, 'utf8'));
  } catch {
    return []; // Node-RED says what is wrong with the file
  }
  if (!Array.isArray(flows)) return [];
  const nodes = flows.filter((n): n is FlowNode => typeof n === 'object' && n !== null && typeof (n as FlowNode).type === 'string');
  return unsetEnvNeeds(nodes, env)
    .filter((u) => !u.setByNpmStart)
    .map((u) => `the deployed tab "${u.tab}" needs ${u.name}, not set: ${u.for}`);
}
