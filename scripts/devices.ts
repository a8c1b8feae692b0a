/**
 * `upperstack devices ...`: the device registry of a running runtime, through
 * its admin API (an API key with the admin scope). A secret is printed once,
 * when it is made; the runtime keeps only its hash.
 */
import { parseArgs } from 'node:util';

export class AdminUsageError extends Error {}

export const DEVICES_HELP = `upperstack devices: manage the device registry of a running runtime

Usage:
  upperstack devices add [<id>] [--tag name=value]... [--signing] [--disabled]
  upperstack devices list [--json]
  upperstack devices disable <id>
  upperstack devices enable <id>
  upperstack devices rotate <id>
  upperstack devices remove <id>

  --url URL     the runtime (default $UPPERSTACK_URL, else http://127.0.0.1:1880)
  --key KEY     an API key with the admin scope (default $UPPERSTACK_API_KEY)
  --tag T       a tag copied onto the device's readings, e.g. --tag customer=acme
                (add: the tags to start with)
  --signing     the device must sign its messages (HMAC-SHA256); add prints its key
  --json        print the answer as JSON

add and rotate print the device's secret (and signing key): copy them now, they
are not shown again. The device logs in with its id and this secret (MQTT user
name and password, HTTP Bearer or Basic, CoAP ?k=).
Exit status: 0 done, 1 the runtime could not be reached or failed, 2 bad usage
or refused (the message says why).
`;

export interface AdminContext {
  url: string;
  key: string;
  out: (text: string) => void;
}

/** Calls the admin API; a refusal becomes an AdminUsageError with the server's message. */
export async function adminCall(ctx: AdminContext, method: string, path: string, body?: unknown): Promise<unknown> {
  if (!ctx.key) throw new AdminUsageError('an API key is needed: --key or UPPERSTACK_API_KEY');
  let res: Response;
  try {
    res = await fetch(new URL(path, ctx.url.endsWith('/') ? ctx.url : `${ctx.url}/`), {
      method,
      headers: { authorization: `Bearer ${ctx.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(`cannot reach ${ctx.url}: ${(err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message}`, { cause: err });
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

export function parseTagArgs(list: string[] | undefined): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const t of list ?? []) {
    const eq = t.indexOf('=');
    if (eq < 1) throw new AdminUsageError(`--tag ${t}: write name=value`);
    tags[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return tags;
}

interface DeviceJson {
  id: string;
  enabled: boolean;
  signing: boolean;
  tags: Record<string, string>;
  createdAt: string;
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

function printIssued(ctx: AdminContext, body: { device: DeviceJson; secret?: string; signingKey?: string }, json: boolean): void {
  if (json) return ctx.out(`${JSON.stringify(body, null, 2)}\n`);
  const lines = [`device:      ${body.device.id}`];
  if (body.secret) lines.push(`secret:      ${body.secret}`);
  if (body.signingKey) lines.push(`signing key: ${body.signingKey}`);
  lines.push('Copy them now: they are not shown again.');
  ctx.out(`${lines.join('\n')}\n`);
}

export async function runDevices(argv: string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        key: { type: 'string' },
        tag: { type: 'string', multiple: true },
        signing: { type: 'boolean' },
        disabled: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new AdminUsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    out(DEVICES_HELP);
    return values.help ? 0 : 2;
  }
  const ctx: AdminContext = { url: values.url ?? process.env.UPPERSTACK_URL ?? 'http://127.0.0.1:1880', key: values.key ?? process.env.UPPERSTACK_API_KEY ?? '', out };
  const [verb, id, ...extra] = positionals;
  if (extra.length) throw new AdminUsageError(`unexpected "${extra.join(' ')}"`);
  const json = values.json === true;
  const needId = () => {
    if (!id) throw new AdminUsageError(`${verb} needs a device id`);
    return encodeURIComponent(id);
  };
  switch (verb) {
    case 'add': {
      const body: Record<string, unknown> = { tags: parseTagArgs(values.tag) };
      if (id) body.id = id;
      if (values.signing) body.signing = true;
      if (values.disabled) body.enabled = false;
      printIssued(ctx, (await adminCall(ctx, 'POST', 'api/v1/devices', body)) as { device: DeviceJson; secret: string }, json);
      return 0;
    }
    case 'list': {
      const body = (await adminCall(ctx, 'GET', 'api/v1/devices')) as { devices: DeviceJson[] };
      if (json) out(`${JSON.stringify(body.devices, null, 2)}\n`);
      else if (body.devices.length === 0) out('no devices registered\n');
      else
        out(
          table([
            ['ID', 'ENABLED', 'SIGNS', 'TAGS', 'CREATED'],
            ...body.devices.map((d) => [
              d.id,
              d.enabled ? 'yes' : 'no',
              d.signing ? 'yes' : 'no',
              Object.entries(d.tags)
                .map(([k, v]) => `${k}=${v}`)
                .join(','),
              d.createdAt,
            ]),
          ]),
        );
      return 0;
    }
    case 'disable':
    case 'enable': {
      const body = (await adminCall(ctx, 'PATCH', `api/v1/devices/${needId()}`, { enabled: verb === 'enable' })) as { device: DeviceJson };
      out(json ? `${JSON.stringify(body, null, 2)}\n` : `${body.device.id} ${verb}d\n`);
      return 0;
    }
    case 'rotate':
      printIssued(ctx, (await adminCall(ctx, 'POST', `api/v1/devices/${needId()}/rotate`)) as { device: DeviceJson; secret: string }, json);
      return 0;
    case 'remove': {
      const body = (await adminCall(ctx, 'DELETE', `api/v1/devices/${needId()}`)) as { device: DeviceJson };
      out(json ? `${JSON.stringify(body, null, 2)}\n` : `${body.device.id} removed\n`);
      return 0;
    }
    default:
      throw new AdminUsageError(`unknown action "${verb}": add, list, disable, enable, rotate or remove`);
  }
}
