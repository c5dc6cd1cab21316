import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './cli.js';

/** PEM texts: a CA, and a server key and certificate it signed for 127.0.0.1 and localhost. */
export interface TestCertificates {
  ca: string;
  key: string;
  cert: string;
}

/** A new P-256 key, unencrypted. */
const EC_KEY = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

/** The extensions of a TLS server certificate for the loopback address. */
const SERVER_EXTENSIONS = [
  'basicConstraints=CA:FALSE',
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth',
  'subjectAltName=IP:127.0.0.1,DNS:localhost',
].join('\n');

/** Runs `openssl` with space-separated arguments (none contains a space) in `cwd`. */
async function openssl(cwd: string, command: string): Promise<void> {
  const args = command.split(' ');
  const result = await runCommand('openssl', args, { cwd });
  if (result.code !== 0) throw new Error(`openssl ${args[0]} failed (${result.code}): ${result.stderr}`);
}

/**
 * Makes a CA and a server certificate signed by it (valid one day) with the `openssl` CLI in a
 * temporary directory, and returns them; the directory is removed.
 */
export async function makeCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'kjl-tls-'));
  try {
    await writeFile(join(dir, 'server.ext'), SERVER_EXTENSIONS);
    await openssl(
      dir,
      `req -x509 ${EC_KEY} -keyout ca.key -out ca.crt -days 1 -subj /CN=kjl-sim-test-ca` +
        ' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign',
    );
    await openssl(dir, `req ${EC_KEY} -keyout server.key -out server.csr -subj /CN=kjl-sim`);
    await openssl(
      dir,
      'x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1' +
        ' -extfile server.ext',
    );
    const read = (file: string) => readFile(join(dir, file), 'utf8');
    return { ca: await read('ca.crt'), key: await read('server.key'), cert: await read('server.crt') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
