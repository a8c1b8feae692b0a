/**
 * The simulate node's "register" option: its devices go into this runtime's
 * device registry (the deployed upperstack-devices node), in process, as
 * `upperstack simulate --register` does over the admin API: a new device is
 * added with the tag simulated=true, one that is there already gets a new
 * secret. Each change is audited like the API's. Secrets stay in memory.
 */
import type { DevicesRuntime } from '../shared/devices';

export interface RegisterOptions {
  /** Who made the change, for the audit log (e.g. "node:<id>"). */
  actor: string;
  /** Stop early (the node was stopped or closed). */
  cancelled?: () => boolean;
  progress?: (done: number, total: number) => void;
}

/** Registers (or rotates) each device and returns its secret; throws the registry's error for the first that fails. */
export async function registerInRuntime(rt: DevicesRuntime, ids: readonly string[], opts: RegisterOptions): Promise<Map<string, string>> {
  await rt.registry.open();
  const secrets = new Map<string, string>();
  for (const id of ids) {
    if (opts.cancelled?.()) break;
    const action = rt.registry.isRegistered(id) ? 'device.rotate' : 'device.add';
    try {
      const issued = action === 'device.rotate' ? await rt.registry.rotate(id) : await rt.registry.add({ id, tags: { simulated: 'true' } });
      secrets.set(id, issued.secret);
      rt.audit?.record({ actor: opts.actor, action, via: 'flow', target: id, outcome: 'ok', after: issued.device });
    } catch (err) {
      rt.audit?.record({ actor: opts.actor, action, via: 'flow', target: id, outcome: 'failed', reason: (err as { code?: string }).code, note: err instanceof Error ? err.message : String(err) });
      throw err;
    }
    opts.progress?.(secrets.size, ids.length);
  }
  return secrets;
}
