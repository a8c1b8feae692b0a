/**
 * Who sends a CoAP request (`?k=<secret>` of the path's device, or `?u=&p=`)
 * and whether they may use the device, by the rules of the runtime's device
 * registry (nodes/lib/security/device-auth.ts). Asked for every request, and for
 * the first block of a Block1 upload before any of it is kept (datagrams.ts).
 */
import type { IncomingMessage } from 'coap';
import { coapContentType, coapError, type CoapAnswer } from '../lib/inputs/coap';
import { resourceRefusal } from '../lib/inputs/coap-request';
import type { DeviceLogin } from '../lib/inputs/auth';
import { deviceIdProblem } from '../lib/devices/record';
import type { AuthResult, Principal, Refusal } from '../lib/security/device-auth';
import { deviceAuth } from '../shared/devices';
import { coapCode } from './answers';
import type { BlockStart } from './datagrams';

const BAD_DEVICE_ID = 'BAD_DEVICE_ID';

/**
 * The path's device id checked after the login, as over HTTP (401 before
 * 400): an anonymous client learns nothing of the id rule where a login is
 * required. Refused even where no registry decides ids: a device named so now
 * could never be registered and secured.
 */
function deviceIdRefusal(device: string): Refusal | undefined {
  const malformed = deviceIdProblem(device);
  // 0x85: MQTT's "client identifier not valid", the nearest reason code to a bad device id.
  return malformed === undefined ? undefined : { ok: false, status: 400, reasonCode: 0x85, code: BAD_DEVICE_ID, message: malformed };
}

/** A request that may go on: whether it was authenticated, and the body a device that signs carried. */
export interface Access {
  ok: true;
  principal: Principal;
  authenticated: boolean;
  payload?: Buffer;
  contentType?: string;
}

/** The answer to a refused request: its CoAP code, `CODE: message`, and Max-Age when it says to come back later. */
export function refusalAnswer(who: Refusal): CoapAnswer {
  const extra: Record<string, number> = who.retryAfterMs !== undefined ? { 'Max-Age': Math.max(1, Math.ceil(who.retryAfterMs / 1000)) } : {};
  return coapError(coapCode(who.status), who, extra);
}

function presentsLogin(query: URLSearchParams): boolean {
  return query.has('k') || query.has('u') || query.has('p');
}

export interface CoapAccess {
  /**
   * access() decided at once for a request that presents no secret or login,
   * when the registry can (an anonymous device on loopback, no rate limit to
   * count); undefined when the request must wait for access(). The type allows
   * decideAccess()'s promise, which only a write under rate limits gets.
   */
  accessNow(query: URLSearchParams, req: IncomingMessage, device: string, writes: boolean): Access | Refusal | Promise<Access | Refusal> | undefined;
  access(query: URLSearchParams, req: IncomingMessage, device: string, writes: boolean): Promise<Access | Refusal>;
  /**
   * The refusal the request a Block1 upload makes would get for its resource, login and device (what every
   * block carries), answered at its first block so nothing of a refused upload is kept; undefined: keep it.
   * Discovery, which needs no login, takes no body either: an upload to it is refused.
   * Rate limits and signatures are left to the whole request, which is asked again once reassembled.
   */
  firstBlock(start: BlockStart): CoapAnswer | undefined | Promise<CoapAnswer | undefined>;
}

export function coapAccess(loopback: boolean, login: DeviceLogin | undefined): CoapAccess {
  const authenticate = (query: URLSearchParams, remote: string, device: string): Promise<AuthResult> => {
    const k = query.get('k');
    const u = query.get('u');
    const username = k !== null ? device : (u ?? undefined);
    const password = k !== null ? k : (query.get('p') ?? undefined);
    return deviceAuth().authenticate({ protocol: 'coap', username, password, remote, loopback, shared: login });
  };

  /** The id rule and the device's access: what refuses `principal` whatever the request holds. */
  const mayUse = (principal: Principal, device: string, remote: string): Refusal | undefined => {
    const badId = deviceIdRefusal(device);
    if (badId) return badId;
    const may = deviceAuth().canWrite(principal, device, 'coap', remote);
    return may.ok ? undefined : may;
  };

  /**
   * Whether `principal` may use the device: the id rule and the device's access, for telemetry the rate
   * limits (only where they count anything: then the answer is a promise) and the body a device that
   * signs carried in its envelope.
   */
  const decideAccess = (principal: Principal, req: IncomingMessage, device: string, writes: boolean): Access | Refusal | Promise<Access | Refusal> => {
    const remote = req.rsinfo.address;
    const refused = mayUse(principal, device, remote);
    if (refused) return refused;
    const auth = deviceAuth();
    const authenticated = principal.kind !== 'anonymous';
    if (!writes) return { ok: true, principal, authenticated };
    const unwrapped = (): Access | Refusal => {
      // A device that signs sends an envelope; what goes on is the body it carried.
      const signed = auth.unwrapSigned(principal, device, req.payload, coapContentType(req.headers['Content-Format']), 'coap', remote);
      if (!signed.ok) return signed;
      return { ok: true, principal, authenticated, payload: signed.payload, contentType: signed.contentType };
    };
    if (!auth.limitsTraffic) return unwrapped();
    return auth.admit(principal, device, remote, 'coap').then((admitted) => (admitted.ok ? unwrapped() : admitted));
  };

  return {
    accessNow(query, req, device, writes) {
      if (presentsLogin(query)) return undefined;
      const auth = deviceAuth();
      if (writes && auth.limitsTraffic) return undefined;
      const who = auth.anonymousNow(req.rsinfo.address, loopback, login);
      if (who === undefined || !who.ok) return who;
      return decideAccess(who.principal, req, device, writes);
    },

    async access(query, req, device, writes) {
      const who = await authenticate(query, req.rsinfo.address, device);
      if (!who.ok) return who;
      return decideAccess(who.principal, req, device, writes);
    },

    firstBlock({ segments, method, query, remote }) {
      const wrong = resourceRefusal(segments, method);
      if (wrong) return wrong;
      // Discovery is anyone's and takes no body: an upload to it would be kept for nobody (RFC 7252 §5.4.1: a
      // critical option the resource does not act on is refused).
      if (segments[0] === '.well-known') return coapError('4.02', '/.well-known/core takes no body: send the request without Block1');
      const device = segments[1];
      const decide = (who: AuthResult): CoapAnswer | undefined => {
        const refused = who.ok ? mayUse(who.principal, device, remote) : who;
        return refused && refusalAnswer(refused);
      };
      const now = presentsLogin(query) ? undefined : deviceAuth().anonymousNow(remote, loopback, login);
      return now ? decide(now) : authenticate(query, remote, device).then(decide);
    },
  };
}
