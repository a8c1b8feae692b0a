/**
 * People who use /upperstack/alerts besides the admin: <data>/upperstack-users.json,
 * `[{"username": "ann", "password": "<bcrypt hash>", "role": "operator"}]`. A role is a
 * set of Node-RED permissions, so the same login works in the editor (where these
 * users can look but not deploy) and on the page.
 */
import { existsSync, readFileSync } from 'node:fs';

export const ROLES: Record<string, string[]> = {
  viewer: ['upperstack-alert.read'],
  operator: ['upperstack-alert.read', 'upperstack-alert.ack'],
  'rules-editor': ['upperstack-alert.read', 'upperstack-alert.ack', 'upperstack-alert.write'],
};

export interface AdminUser {
  username: string;
  password: string;
  permissions: string | string[];
}

/** The users of the file as Node-RED adminAuth users; a bad entry is reported and left out. */
export function usersFromFile(file: string, warn: (m: string) => void = console.warn): AdminUser[] {
  if (!existsSync(file)) return [];
  let list: unknown;
  try {
    list = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    warn(`${file} is not JSON (${(err as Error).message}); no extra users`);
    return [];
  }
  if (!Array.isArray(list)) {
    warn(`${file} must be a list of {"username", "password" (bcrypt hash), "role"}; no extra users`);
    return [];
  }
  const out: AdminUser[] = [];
  list.forEach((u: { username?: unknown; password?: unknown; role?: unknown }, i) => {
    const role = typeof u?.role === 'string' ? u.role : '';
    if (typeof u?.username !== 'string' || !u.username || u.username === 'admin' || typeof u.password !== 'string' || !/^\$2[aby]\$/.test(u.password) || !(role in ROLES || role === 'admin')) {
      warn(`${file} [${i}]: needs "username" (not admin), "password" as a bcrypt hash and "role" (viewer, operator, rules-editor or admin); left out`);
      return;
    }
    out.push({ username: u.username, password: u.password, permissions: role === 'admin' ? '*' : ROLES[role] });
  });
  return out;
}
