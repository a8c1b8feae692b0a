/**
 * upperstack-grant: the data market's payment hook. Any message (a payment
 * provider's webhook through `http in`, a ledger watcher, an inject) becomes a
 * grant: the client may read `market/{device}/live` for that many minutes. A
 * new client's login leaves on the output, the only time it is shown, so the
 * flow can hand it to the buyer (the webhook's response, an email).
 */
import type { Node, NodeAPI } from 'node-red';
import { BadParameterError, ConfigError } from '../lib/errors';
import { onInput } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { setStatus } from '../shared/status';
import { deployedDevices } from '../shared/devices';
import { addGrantRoutes } from '../shared/market-routes';
import { grantMigrations, type GrantNodeDef, type GrantOptions } from './options';

/** From msg.payload {client, device, minutes} (or text: the client), then msg.client / msg.device / msg.minutes, then the node. */
function requested(msg: Record<string, unknown>, config: GrantOptions): { client: unknown; device: unknown; minutes: unknown } {
  const p = msg.payload;
  const body = typeof p === 'object' && p !== null && !Array.isArray(p) && !Buffer.isBuffer(p) ? (p as Record<string, unknown>) : {};
  const pick = (name: string, fallback: unknown) => body[name] ?? msg[name] ?? fallback;
  const client = typeof p === 'string' ? p.trim() : pick('client', undefined);
  return { client, device: pick('device', config.device || undefined), minutes: pick('minutes', config.minutes) };
}

export = function register(RED: NodeAPI): void {
  function UpperstackGrantNode(this: Node, def: GrantNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<GrantOptions>(def as unknown as Record<string, unknown>, grantMigrations);
    // The admin API for grants is there whenever grants can be made.
    addGrantRoutes(RED);
    let made = 0;
    setStatus(node, 'idle', RED._('upperstack-grant.status.none'));

    onInput(node, async (msg, send, done) => {
      const rt = deployedDevices();
      if (!rt?.market) return done(new ConfigError(RED._('upperstack-grant.errors.noRegistry')));
      const want = requested(msg, config);
      if (want.client === undefined || want.client === '') return done(new BadParameterError('client', RED._('upperstack-grant.errors.noClient')));
      const actor = `flow:${node.id}`;
      try {
        const issued = await rt.market.grant({ ...want, by: actor });
        const g = issued.grant;
        rt.audit?.record({ actor, action: 'grant.create', via: 'flow', target: g.id, outcome: 'ok', after: { client: g.client, device: g.device, expiresAt: g.expiresAt } });
        made++;
        setStatus(node, 'connected', RED._('upperstack-grant.status.made', { count: made, client: g.client, device: g.device, until: g.expiresAt.slice(11, 16) }));
        msg.payload = issued.login ? { grant: g, login: issued.login } : { grant: g };
        send(msg);
        done();
      } catch (err) {
        rt.audit?.record({ actor, action: 'grant.create', via: 'flow', target: typeof want.device === 'string' ? want.device : undefined, outcome: 'failed', reason: (err as { code?: string }).code, note: err instanceof Error ? err.message : String(err) });
        throw err;
      }
    });
  }

  registerNode(RED, 'upperstack-grant', UpperstackGrantNode);
};
