/**
 * What the HTTP and CoAP inputs check of a decoded request before they journal
 * it, in one place so both answer and audit it alike.
 */
import type { TooManyReadingsError } from '../lib/errors';
import { tooManyRequestReadings, type InputOutcome } from '../lib/inputs/request';
import { DeviceMismatchError } from '../lib/inputs/errors';
import type { Principal, Protocol } from '../lib/security/device-auth';
import { deviceAuth } from './devices';

/** Who sent a request: the login, the path's device (none on the InfluxDB routes), the input and the address. */
export interface RequestSender {
  principal: Principal;
  device: string | undefined;
  via: Protocol;
  remote: string | undefined;
}

/**
 * The refusal of a request of more readings than one request may hold, for the input to answer 413 / 4.13
 * before anything is kept; undefined otherwise. A body that names another device than the path is recorded
 * in the audit log as a refused write, as canWrite records writing as another device.
 */
export function checkDecoded(outcome: InputOutcome, sender: RequestSender): TooManyReadingsError | undefined {
  const tooMany = tooManyRequestReadings(outcome);
  if (tooMany) return tooMany;
  const refused = outcome.refusal === 'forbidden' ? outcome.failures[0]?.error : undefined;
  if (refused instanceof DeviceMismatchError && sender.device !== undefined) {
    deviceAuth().bodyNamesOther(sender.principal, sender.device, typeof refused.details.claimed === 'string' ? refused.details.claimed : undefined, sender.via, sender.remote);
  }
  return undefined;
}
