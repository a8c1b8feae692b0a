/**
 * A raw MQTT 3.1.1 subscriber that stops reading its socket right after SUBACK: a frozen dashboard or a
 * client on a dead link, as the broker sees it.
 */
import { connect, type Socket } from 'node:net';

/** CONNECT (MQTT 3.1.1, clean session, no keepalive) and SUBSCRIBE `topic` (devices/+/telemetry) at QoS 0, written by hand. */
export function frozenSubscriber(port: number, topic = 'devices/+/telemetry'): Promise<Socket> {
  const id = Buffer.from('frozen');
  const connectBody = Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([4, 0x02, 0, 0, 0, id.length]), id]);
  const filter = Buffer.from(topic);
  const subBody = Buffer.concat([Buffer.from([0, 1, 0, filter.length]), filter, Buffer.from([0])]);
  const packet = (type: number, body: Buffer) => Buffer.concat([Buffer.from([type, body.length]), body]);
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(Buffer.concat([packet(0x10, connectBody), packet(0x82, subBody)])));
    s.once('error', reject);
    let seen = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      seen = Buffer.concat([seen, d]);
      // CONNACK (4 bytes) then SUBACK (5 bytes): subscribed; from here on the socket is never read again.
      if (seen.length >= 9) {
        s.off('data', onData);
        // A refused login (CONNACK return code) or subscription (SUBACK 0x80) would leave nothing to fall behind on.
        if (seen[3] !== 0 || seen[8] === 0x80) {
          s.destroy();
          reject(new Error(`the broker refused the frozen subscriber: CONNACK ${seen[3]}, SUBACK ${seen[8]}`));
          return;
        }
        s.pause();
        resolve(s);
      }
    };
    s.on('data', onData);
  });
}

