/**
 * Node-RED's credentials file (`flows_cred.json`) as the runtime keeps it with a credentialSecret: `{"$": …}`,
 * the JSON of every node's credentials sealed with aes-256-ctr under sha256(secret), the IV in hex before the
 * base64 text. The start writes a data folder's first credentials and moves secrets found in older flows into
 * it, before Node-RED reads the file.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ConfigError } from '../errors';

/** Each node's credentials, by node id. */
export type NodeCredentials = Record<string, Record<string, unknown>>;

const key = (secret: string) => createHash('sha256').update(secret).digest();

/** The file's text for `credentials`. */
export function sealCredentials(credentials: NodeCredentials, secret: string): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-ctr', key(secret), iv);
  const sealed = iv.toString('hex') + cipher.update(JSON.stringify(credentials), 'utf8', 'base64') + cipher.final('base64');
  return JSON.stringify({ $: sealed }, null, 4);
}

/** The credentials the file's text holds; an empty file (or `{}`) holds none. */
export function openCredentials(text: string, secret: string): NodeCredentials {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === '{}') return {};
  let sealed: unknown;
  try {
    sealed = (JSON.parse(trimmed) as { $?: unknown }).$;
  } catch {
    throw new ConfigError('the credentials file is not JSON');
  }
  if (typeof sealed !== 'string' || !/^[0-9a-f]{32}/i.test(sealed)) throw new ConfigError('the credentials file is not sealed as Node-RED seals it');
  // aes-256-ctr has no tag: a wrong secret shows as text that is not JSON.
  const decipher = createDecipheriv('aes-256-ctr', key(secret), Buffer.from(sealed.slice(0, 32), 'hex'));
  const plain = decipher.update(sealed.slice(32), 'base64', 'utf8') + decipher.final('utf8');
  let out: unknown;
  try {
    out = JSON.parse(plain);
  } catch {
    throw new ConfigError('the credentials file cannot be opened with the data folder\'s credential secret (upperstack-secrets.json)');
  }
  if (typeof out !== 'object' || out === null || Array.isArray(out)) throw new ConfigError('the credentials file does not hold credentials by node id');
  return out as NodeCredentials;
}
