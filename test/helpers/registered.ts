/** A device registry with these devices, deployed as a devices node would deploy it; resolves the function that takes it back. */
import { randomBytes } from 'node:crypto';
import { DeviceAuth } from '../../nodes/lib/security/device-auth';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { useDevices } from '../../nodes/shared/devices';

export async function withRegistered(...ids: string[]): Promise<() => void> {
  const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
  const auth = new DeviceAuth({ registry });
  await auth.ready;
  for (const id of ids) await registry.add({ id });
  return useDevices({ owner: {}, auth, registry });
}
