/**
 * A URL as it may be shown: in /health (which answers without a key), node status and the log. MQTT.js and
 * the InfluxDB client take a login in the URL (`mqtt://user:password@host:1883`), which for a pack that reads
 * its broker from the environment (UPPERSTACK_MQTT_URL) is the only place one fits; the password is replaced,
 * the user name kept so the reader sees which login is used.
 */
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@/i;

export function shownUrl(url: string): string {
  const m = USERINFO.exec(url);
  if (!m) return url;
  const colon = m[2].indexOf(':');
  if (colon < 0) return url;
  return `${m[1]}${m[2].slice(0, colon)}:***@${url.slice(m[0].length)}`;
}

/**
 * A setting's value as an error about it may quote it: shownUrl for a URL, and for a value that is not one
 * (`member:pw@broker:1883`, `mqtt:/u:p@h`: the errors that quote a value are about values that do not parse)
 * everything before its last @ replaced, since a login may stand there; at most `max` characters.
 */
export function shownValue(value: string, max = 80): string {
  if (USERINFO.test(value)) return shownUrl(value).slice(0, max);
  const at = value.lastIndexOf('@');
  return (at < 0 ? value : `***${value.slice(at)}`).slice(0, max);
}

/** The password in a URL's login (`scheme://user:password@host`), undefined when it carries none. */
export function urlPassword(url: string): string | undefined {
  const m = USERINFO.exec(url);
  if (!m) return undefined;
  const colon = m[2].indexOf(':');
  return colon < 0 ? undefined : m[2].slice(colon + 1);
}

/**
 * A URL whose login carries a password, split as MQTT.js splits it (its login percent-decoded, then
 * user:password at the last colon): the URL without the login, and the login. Undefined when there is
 * no password in it, so nothing secret to take out.
 */
export function splitUrlLogin(url: string): { url: string; username: string; password?: string } | undefined {
  const m = USERINFO.exec(url);
  if (!m || !m[2].includes(':')) return undefined;
  let auth = m[2];
  try {
    auth = decodeURIComponent(auth);
  } catch {
    // Not percent-encoding after all: taken as written.
  }
  const split = /^(.+):(.+)$/.exec(auth);
  const bare = `${m[1]}${url.slice(m[0].length)}`;
  return split ? { url: bare, username: split[1], password: split[2] } : { url: bare, username: auth };
}
