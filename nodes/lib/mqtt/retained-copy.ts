/**
 * A broker sends a topic's retained message to each new subscription, and again each time a client subscribes
 * (MQTT 3.1.1 and MQTT 5, section 3.8.4). An input subscribes again at every connect: after a restart, a
 * redeploy, a broker restart or a dropped link. Taken as a reading, that copy would be stored again each time,
 * under the time it arrived when it carries none of its own. What a device published live reaches the input
 * as it is published (or from its persistent session's queue), so the copy adds nothing: the input takes only
 * live publishes, as the embedded broker's in-process subscription does.
 */

/**
 * The subscription options that keep the broker's retained copies away: over MQTT 5, Retain Handling 2 (no
 * retained messages when subscribing) with Retain As Published, so a live publish keeps its retain flag.
 */
export function liveSubscribeOptions<Q extends number>(protocolVersion: 4 | 5, qos: Q): { qos: Q; rap?: boolean; rh?: number } {
  return protocolVersion === 5 ? { qos, rap: true, rh: 2 } : { qos };
}

/**
 * True for a retained copy the broker sent because the subscription was made: over MQTT 3.1.1 the retain flag
 * is set on exactly those (3.3.1.3), and a live publish arrives without it. The caller acknowledges it and hands
 * it to no intake. Over MQTT 5 the broker sends none (liveSubscribeOptions), and the flag is the publisher's.
 */
export function retainedCopy(protocolVersion: 4 | 5, retain: boolean | undefined): boolean {
  return protocolVersion !== 5 && retain === true;
}
