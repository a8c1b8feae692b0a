/**
 * `upperstack keys ...`: API keys of a running runtime, through its admin API
 * (an API key with the admin scope). A new key is printed once; the runtime
 * keeps only its hash.
 */
import { AdminUsageError, adminCall, parseAdminArgs, table } from './admin-cli';

export const KEYS_HELP = `upperstack keys: manage the API keys of a running runtime

Usage:
  upperstack keys add --scope SCOPE [--scope SCOPE]... [--name NAME]
  upperstack keys list [--json]
  upperstack keys revoke <id>

  --url URL     the runtime (default $UPPERSTACK_URL, else http://127.0.0.1:1880)
  --key KEY     an API key with the admin scope (default $UPPERSTACK_API_KEY)
  --ca FILE     a CA (PEM) to trust for an https:// runtime, beside the system
                ones: its self-signed certificate, for one (default $UPPERSTACK_CA)
  --scope S     admin          everything, the admin API included
                read           the data of every device
                read:tag=N:V   the data of the devices tagged N=V in the registry,
                               e.g. read:tag=customer:acme (several add up)
                read:sensitive fields the schema marks sensitive, unmasked
  --name NAME   what the key is for, e.g. "acme dashboard"
  --json        print the answer as JSON

add prints the key: copy it now, it is not shown again. Use it as
"Authorization: Bearer <key>" (query API, Grafana) or as the MQTT password of
the user name "apikey". revoke ends it at once.
Exit status: 0 done, 1 the runtime could not be reached or failed, 2 bad usage
or refused (the message says why).
`;

interface KeyJson {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  revokedAt?: string;
  lastUsedAt?: string;
}

export async function runKeys(argv: string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  const args = parseAdminArgs(argv, { scope: { type: 'string', multiple: true }, name: { type: 'string' } }, KEYS_HELP, out);
  if (typeof args === 'number') return args;
  const { values, verb, id, json, ctx } = args;
  switch (verb) {
    case 'add': {
      if (id) throw new AdminUsageError(`unexpected "${id}": the runtime picks the key's id`);
      if (!values.scope?.length) throw new AdminUsageError('add needs at least one --scope (admin, read, read:sensitive or read:tag=<name>:<value>)');
      const body: Record<string, unknown> = { scopes: values.scope };
      if (values.name !== undefined) body.name = values.name;
      const made = (await adminCall(ctx, 'POST', 'api/v1/keys', body)) as { key: string; apiKey: KeyJson };
      if (json) out(`${JSON.stringify(made, null, 2)}\n`);
      else out(`id:     ${made.apiKey.id}\nscopes: ${made.apiKey.scopes.join(' ')}\nkey:    ${made.key}\nCopy it now: it is not shown again.\n`);
      return 0;
    }
    case 'list': {
      const body = (await adminCall(ctx, 'GET', 'api/v1/keys')) as { keys: KeyJson[] };
      if (json) out(`${JSON.stringify(body.keys, null, 2)}\n`);
      else if (body.keys.length === 0) out('no API keys (the key of the settings is not listed)\n');
      else out(table([['ID', 'NAME', 'SCOPES', 'CREATED', 'LAST USED', 'REVOKED'], ...body.keys.map((k) => [k.id, k.name, k.scopes.join(' '), k.createdAt, k.lastUsedAt ?? '-', k.revokedAt ?? '-'])]));
      return 0;
    }
    case 'revoke': {
      if (!id) throw new AdminUsageError('revoke needs a key id (see "upperstack keys list")');
      const body = (await adminCall(ctx, 'DELETE', `api/v1/keys/${encodeURIComponent(id)}`)) as { apiKey: KeyJson };
      out(json ? `${JSON.stringify(body, null, 2)}\n` : `${body.apiKey.id} revoked\n`);
      return 0;
    }
    default:
      throw new AdminUsageError(`unknown action "${verb}": add, list or revoke`);
  }
}
