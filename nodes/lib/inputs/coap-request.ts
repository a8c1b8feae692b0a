/**
 * What a CoAP request names before its body is looked at: its query parameters
 * as the options carry them, and whether the resource its path names takes its
 * method (the 4.04 / 4.05 every route gives, also for a request the input
 * answers before the CoAP library sees it).
 */
import { coapError, type CoapAnswer } from './coap';

/** An option as coap-packet parses it (a Buffer) or as the library leaves it once read (text). */
export interface QueryOption {
  name: string | number;
  value: unknown;
}

/**
 * The Uri-Query options as parameters, each `name=value` split at its first `=` and taken as it is.
 * An option is one argument whose value is already text (RFC 7252 §5.10.1, §6.5): clients such as libcoap
 * percent-decode the URI once when they make the options. Reading them back through a URL (the library
 * joins them into `req.url` with `&`) would decode them a second time: `+` would turn into a space,
 * `%41` into `A` and a `&` inside a value would cut it, so a login such as `?p=pa+ss` (base64 holds `+`)
 * could never match the same password that works over MQTT and HTTP.
 */
export function uriQueryOf(options: ReadonlyArray<QueryOption>): URLSearchParams {
  const query = new URLSearchParams();
  for (const o of options) {
    if (o.name !== 'Uri-Query') continue;
    const text = Buffer.isBuffer(o.value) ? o.value.toString('utf8') : String(o.value);
    const eq = text.indexOf('=');
    // append() stores what it is given: no decoding, unlike the URLSearchParams(string) constructor.
    if (eq === -1) query.append(text, '');
    else query.append(text.slice(0, eq), text.slice(eq + 1));
  }
  return query;
}

const RESOURCES = 'resources: /telemetry/{device}, /commands/{device}, /.well-known/core';

/**
 * The 4.04 or 4.05 a request gets for its path (the Uri-Path segments as sent) and method (GET, POST, PUT,
 * FETCH, ...); undefined when the resource takes the method.
 */
export function resourceRefusal(segments: readonly string[], method: string): CoapAnswer | undefined {
  if (segments.length === 2 && segments[0] === '.well-known' && segments[1] === 'core') return method === 'GET' ? undefined : coapError('4.05', 'GET only');
  const named = segments.length === 2 && segments[1] !== '';
  if (named && segments[0] === 'telemetry') return method === 'POST' || method === 'PUT' ? undefined : coapError('4.05', 'POST or PUT telemetry');
  if (named && segments[0] === 'commands') return method === 'GET' ? undefined : coapError('4.05', 'GET (with Observe) the commands');
  return coapError('4.04', RESOURCES);
}
