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

/** The password in a URL's login (`scheme://user:password@host`), undefined when it carries none. */
export function urlPassword(url: string): string | undefined {
  const m = USERINFO.exec(url);
  if (!m) return undefined;
  const colon = m[2].indexOf(':');
  return colon < 0 ? undefined : m[2].slice(colon + 1);
}
