/**
 * `<data>/upperstack-secrets.json`: the key that decrypts the flows' credentials (flows_cred.json), the API key
 * and the editor password's hash that `npm start` made. Losing it loses the credentials, so it is written whole
 * or not at all, and only when a start changed it; a file that cannot be read stops the start in one line
 * instead of a stack trace, and is never replaced by new secrets behind the user's back.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../nodes/lib/fs-atomic';
import { ConfigError } from '../nodes/lib/errors';

export interface Secrets {
  apiKey?: string;
  adminHash?: string;
  credentialSecret?: string;
}

function text(secrets: Secrets): string {
  return JSON.stringify(secrets, null, 2);
}

/** What the file holds; {} when there is none yet (a first start). */
export function readSecrets(file: string): Secrets {
  if (!existsSync(file)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const why = err instanceof SyntaxError ? 'it is not valid JSON' : (err as Error).message;
    throw new ConfigError(
      `the secrets file ${file} cannot be read (${why}): it holds the key of the flows' credentials, so no new one is made; ` +
        'restore it from a backup, or delete it to start with new secrets (the credentials in the flows are then lost, and a new API key and editor password are made)',
      { path: file },
    );
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`the secrets file ${file} cannot be read (it holds no JSON object): restore it from a backup, or delete it to start with new secrets`, { path: file });
  }
  return parsed as Secrets;
}

/** Writes `secrets` when they differ from what the file holds. */
export function keepSecrets(file: string, secrets: Secrets): void {
  const wanted = text(secrets);
  if (existsSync(file) && readFileSync(file, 'utf8') === wanted) return;
  writeFileAtomic(file, wanted);
}
