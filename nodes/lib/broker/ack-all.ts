/**
 * One publish's acknowledgement shared by several in-process subscribers: what the embedded broker hands each
 * of them when more than one takes a publish (embedded.ts), and what a publish waiting for an input being
 * restarted hands the subscribers there now and the one coming back (returning.ts). A single subscriber gets
 * the publish's own callbacks instead, with nothing made per publish.
 */
export interface SharedAck {
  /** One subscriber has made the publish durable; the publish is acknowledged once all have. */
  acked: () => void;
  /** A subscriber cannot make the publish durable (its ack will not come); `failed` runs at the first. */
  fail: () => void;
}

/** Acknowledges the publish (`ack`) once `n` subscribers have called `acked`; `failed` runs once, whoever fails. */
export function ackWhenAll(n: number, ack: () => void, failed: () => void): SharedAck {
  let left = n;
  let failedOnce = false;
  return {
    acked: () => --left === 0 && ack(),
    fail: () => {
      if (failedOnce) return;
      failedOnce = true;
      failed();
    },
  };
}
