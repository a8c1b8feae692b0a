/**
 * `upperstack devices ...`: the device registry of a running runtime, through
 * its admin API (an API key with the admin scope). A secret is printed once,
 * when it is made; the runtime keeps only its hash.
 */
import { put } from '../nodes/lib/reading-flatten';
import { AdminUsageError, adminCall, parseAdminArgs, table, type AdminContext } from './admin-cli';

export { AdminUsageError };

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
  --ca FILE     a CA (PEM) to trust for an https:// runtime, beside the system
                ones: its self-signed certificate, for one (default $UPPERSTACK_CA)
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

export function parseTagArgs(list: string[] | undefined): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const t of list ?? []) {
    const eq = t.indexOf('=');
    if (eq < 1) throw new AdminUsageError(`--tag ${t}: write name=value`);
    // put keeps a tag named "__proto__" (an assignment would drop it), so the runtime refuses it and says why.
    put(tags, t.slice(0, eq), t.slice(eq + 1));
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

function printIssued(ctx: AdminContext, body: { device: DeviceJson; secret?: string; signingKey?: string }, json: boolean): void {
  if (json) return ctx.out(`${JSON.stringify(body, null, 2)}\n`);
  const lines = [`device:      ${body.device.id}`];
  const shown = [body.secret, body.signingKey].filter(Boolean).length;
  if (body.secret) lines.push(`secret:      ${body.secret}`);
  if (body.signingKey) lines.push(`signing key: ${body.signingKey}`);
  if (shown === 1) lines.push('Copy it now: it is not shown again.');
  else if (shown > 1) lines.push('Copy them now: they are not shown again.');
  ctx.out(`${lines.join('\n')}\n`);
}

export async function runDevices(argv: string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  const args = parseAdminArgs(argv, { tag: { type: 'string', multiple: true }, signing: { type: 'boolean' }, disabled: { type: 'boolean' } }, DEVICES_HELP, out);
  if (typeof args === 'number') return args;
  const { values, verb, id, json, ctx } = args;
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
