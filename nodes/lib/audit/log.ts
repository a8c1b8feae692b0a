/**
 * The audit log: one JSON object per line in <data folder>/audit.jsonl, appended
 * with a synchronous write so an entry is on disk before the change is reported
 * done. Entries say who did what to which thing, with the before and after.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface AuditEntry {
  /** Epoch ms. */
  ts: number;
  /** Who: a user name, "api" for the API key, "editor" for the flow editor without a login. */
  actor: string;
  /** Through what: "api", "editor", "page". */
  via: string;
  /** "rule.create", "rule.update", "rule.delete", "rules.import", "alert.ack", "alert.silence". */
  action: string;
  /** What it was done to: a rule id, an alert id. */
  target: string;
  before?: unknown;
  after?: unknown;
  note?: string;
}

export function auditFile(dataDir: string): string {
  return join(dataDir, 'audit.jsonl');
}

export function appendAudit(file: string, entry: AuditEntry): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
}
