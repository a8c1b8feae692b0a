/** A cluster member's clients wait for the broker through the generic MQTT helpers and tell a stop in the member's terms. */
import type { MqttClient } from 'mqtt';
import { ClusterMemberStoppedError, MqttClientEndedError } from '../errors';
import { firstConnection } from '../mqtt/refused';

/** firstConnection, where a client ended by the member's stop before the broker let it in is ClusterMemberStoppedError. */
export async function memberConnection(c: MqttClient): Promise<void> {
  try {
    await firstConnection(c);
  } catch (err) {
    throw err instanceof MqttClientEndedError ? new ClusterMemberStoppedError() : err;
  }
}
