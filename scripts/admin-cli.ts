/**
 * What the admin CLIs (`upperstack devices`, `upperstack keys`; `flows` for the address) share: their
 * arguments (`<action> [<id>]`, --url, --key, --ca, --json, --help and their own
 * options), the admin API call and the table they print.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { cliFetch, trustedCa } from './cli-fetch';

export class AdminUsageError extends Error {}

/** The runtime did not answer (not running, wrong --url): said in one line, without a stack trace. */
export class AdminConnectionError extends Error {}

export interface AdminContext {
  url: string;
  key: string;
  /** CA the runtime's certificate is checked against, beside the system ones (--ca, UPPERSTACK_CA). */
  ca?: Buffer;
  out: (text: string) => void;
}

const COMMON = {
  url: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof COMMON & O }>>['values'];

export interface AdminArgs<O extends Options> {
  values: Values<O>;
  /** The action, e.g. "add". */
  verb: string;
  /** The one argument after it, if any. */
  id?: string;
  json: boolean;
  ctx: AdminContext;
}

/**
 * Parses an admin CLI's arguments; with --help it prints `help` and returns
 * the exit status 0. No action, a bad option or an extra argument is an
 * AdminUsageError (no action: with `help`, which then goes to stderr).
 */
export function parseAdminArgs<O extends Options>(argv: string[], own: O, help: string, out: (text: string) => void): AdminArgs<O> | number {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { ...COMMON, ...own } });
  } catch (err) {
    throw new AdminUsageError((err as Error).message);
  }
  const positionals = parsed.positionals;
  const values = parsed.values as Record<string, string | boolean | Array<string | boolean> | undefined>;
  if (values.help) {
    out(help);
    return 0;
  }
  if (positionals.length === 0) throw new AdminUsageError(`an action is needed\n\n${help}`);
  const [verb, id, ...extra] = positionals;
  if (extra.length) throw new AdminUsageError(`unexpected "${extra.join(' ')}"`);
  const url = runtimeUrl(typeof values.url === 'string' ? values.url : undefined);
  const key = typeof values.key === 'string' ? values.key : (process.env.UPPERSTACK_API_KEY ?? '');
  const ca = trustedCa(typeof values.ca === 'string' ? values.ca : undefined, (m) => new AdminUsageError(m));
  return { values: values as unknown as Values<O>, verb, id, json: values.json === true, ctx: { url, key, ca, out } };
}

/** The runtime the admin commands talk to: --url, else $UPPERSTACK_URL, else the local one of `npm start`. */
export function runtimeUrl(flag: string | undefined): string {
  return flag || process.env.UPPERSTACK_URL || 'http://127.0.0.1:1880';
}

/** The one line for a runtime that did not answer `err` (a failed fetch) at `url`. */
export function unreachable(url: string, err: unknown): AdminConnectionError {
  const reason = (err as { cause?: { message?: string; code?: string } }).cause ?? (err as { message?: string; code?: string });
  // A runtime that answers with a certificate this machine does not trust is there: say how to trust it.
  const hint = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(reason.code ?? '') ? 'its certificate is not trusted here: --ca FILE or UPPERSTACK_CA' : 'is the runtime running there? --url or UPPERSTACK_URL';
  return new AdminConnectionError(`cannot reach ${url}: ${reason.message ?? String(err)} (${hint})`, { cause: err });
}

/** Calls the admin API; a refusal becomes an AdminUsageError with the server's message. */
export async function adminCall(ctx: AdminContext, method: string, path: string, body?: unknown): Promise<unknown> {
  if (!ctx.key) throw new AdminUsageError('an API key is needed: --key or UPPERSTACK_API_KEY');
  let res: Response;
  try {
    res = await cliFetch(new URL(path, ctx.url.endsWith('/') ? ctx.url : `${ctx.url}/`), {
      method,
      headers: { authorization: `Bearer ${ctx.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }, ctx.ca);
  } catch (err) {
    throw unreachable(ctx.url, err);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    const message = `${res.status} ${e?.code ?? ''}: ${e?.message ?? text.slice(0, 200)}`;
    if (res.status >= 500) throw new Error(message);
    throw new AdminUsageError(message);
  }
  return json;
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}
