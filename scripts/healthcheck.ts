/**
 * The container's health check: asks /health on loopback (on UPPERSTACK_BIND when that names one address) over
 * HTTPS when UPPERSTACK_HTTPS_KEY is set (the server then speaks nothing else) and over HTTP otherwise. Exit 0 when
 * healthy, 1 when not.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const env = process.env;
const https = Boolean(env.UPPERSTACK_HTTPS_KEY);
const port = Number(env.UPPERSTACK_HTTP_PORT || 1880);
// The server listens on UPPERSTACK_BIND (the settings' uiHost): loopback answers only for a wildcard bind (or none).
const bind = (env.UPPERSTACK_BIND ?? '').trim();
const host = bind === '' || bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind;
// The certificate names the public host, not the address asked (and may be self-signed): the check is on this machine.
const options = { host, port, path: '/health', timeout: 4000, ...(https ? { rejectUnauthorized: false } : {}) };
const req = (https ? httpsRequest : httpRequest)(options, (res) => {
  res.resume();
  process.exit(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (err) => {
  process.stderr.write(`health check of ${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/health failed: ${err.message}\n`);
  process.exit(1);
});
req.end();
