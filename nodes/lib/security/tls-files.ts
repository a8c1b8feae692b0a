/**
 * The PEM files a TLS server is started from, named by the setting that names them (e.g.
 * UPPERSTACK_HTTPS_KEY). A file that cannot be read, or a key and certificate that do not belong
 * together, is a ConfigError that says which setting and which file, so a start is refused in one
 * line instead of a stack trace or (Node-RED's HTTPS) a stop that looks clean.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../errors';

export interface TlsFile {
  /** The setting that names the file, for the message. */
  setting: string;
  file: string;
}

export interface TlsFiles {
  key: Buffer;
  cert: Buffer;
  ca?: Buffer;
}

function readPem(f: TlsFile): Buffer {
  try {
    return readFileSync(resolve(f.file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ConfigError(`${f.setting}: cannot read ${f.file}: ${why}`, { setting: f.setting, file: f.file });
  }
}

/** Reads the key, certificate and optional CA, and checks that they make a TLS server. */
export function readTlsFiles(key: TlsFile, cert: TlsFile, ca?: TlsFile): TlsFiles {
  const out: TlsFiles = { key: readPem(key), cert: readPem(cert), ...(ca ? { ca: readPem(ca) } : {}) };
  try {
    createSecureContext({ key: out.key, cert: out.cert });
  } catch (err) {
    const message = (err as Error).message;
    const why = /key values mismatch/i.test(message)
      ? 'the key does not belong to the certificate'
      : `they are not a PEM key and certificate (${message})`;
    throw new ConfigError(`${key.setting} (${key.file}) and ${cert.setting} (${cert.file}): ${why}`, { key: key.file, cert: cert.file });
  }
  if (out.ca && ca) {
    try {
      createSecureContext({ ca: out.ca });
    } catch (err) {
      throw new ConfigError(`${ca.setting} (${ca.file}) is not a PEM certificate: ${(err as Error).message}`, { file: ca.file });
    }
  }
  return out;
}
