/**
 * A real SMTP server on a free loopback port (the `smtp-server` package) that offers STARTTLS with a self-signed
 * certificate made by openssl and takes one login, keeping each message it accepts as raw bytes; and a reader of
 * the parts of a multipart message as nodemailer writes it (one level, base64 or 7bit/quoted-printable text).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { freePort } from './ports';
import { tempDir } from './temp';

export interface SmtpLogin {
  user: string;
  pass: string;
}

export interface TestSmtp {
  port: number;
  /** The certificate the server presents (PEM), for the client's `tls.ca`. */
  cert: string;
  messages: Array<{ from: string; to: string[]; raw: Buffer }>;
  close(): Promise<void>;
}

export async function startSmtp(login: SmtpLogin, refuse: (to: string) => boolean = () => false): Promise<TestSmtp> {
  const dir = tempDir('us-smtp-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const messages: TestSmtp['messages'] = [];
  const server = new SMTPServer({
    key: readFileSync(join(dir, 'key.pem')),
    cert,
    // Login only after STARTTLS, as a real submission server asks.
    allowInsecureAuth: false,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === login.user && auth.password === login.pass) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      if (refuse(address.address)) cb(Object.assign(new Error(`<${address.address}>: mailbox unavailable`), { responseCode: 550 }));
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks) });
        cb();
      });
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { port, cert, messages, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export interface MimePart {
  headers: Record<string, string>;
  body: Buffer;
}

function headersOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

/** The top-level headers and the parts of a multipart message, each body decoded from its transfer encoding. */
export function mimeParts(raw: Buffer): { headers: Record<string, string>; parts: MimePart[] } {
  const text = raw.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const headers = headersOf(text.slice(0, split));
  const boundary = /boundary="?([^";]+)"?/.exec(headers['content-type'] ?? '')?.[1];
  if (!boundary) throw new Error(`not a multipart message: ${headers['content-type']}`);
  const parts: MimePart[] = [];
  for (const chunk of text.slice(split + 4).split(`--${boundary}`).slice(1)) {
    if (chunk.startsWith('--')) break;
    const at = chunk.indexOf('\r\n\r\n');
    const h = headersOf(chunk.slice(2, at));
    const body = chunk.slice(at + 4).replace(/\r\n$/, '');
    const encoding = (h['content-transfer-encoding'] ?? '7bit').toLowerCase();
    const bytes =
      encoding === 'base64'
        ? Buffer.from(body.replace(/\s+/g, ''), 'base64')
        : encoding === 'quoted-printable'
          ? Buffer.from(body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, x: string) => String.fromCharCode(parseInt(x, 16))), 'latin1')
          : Buffer.from(body, 'latin1');
    parts.push({ headers: h, body: bytes });
  }
  return { headers, parts };
}
