// The TLS stall of seed 001 (the API server behind the SVI at 1500): a server whose certificate chain is
// several kilobytes (the first flight that needs full-size segments), and a
// client that gives up after a few seconds. The chain is generated for each
// run in a private temporary directory, which is removed afterwards.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { LabError, type NetLab } from './netlab.js';
import { waitFor } from './traffic.js';

const OPENSSL_TIMEOUT_MS = 20_000;

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { timeout: OPENSSL_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      if (err) reject(new LabError(`openssl ${args[0]} failed: ${String(stderr).trim() || err.message}`, 'apt-get install openssl'));
      else resolve();
    });
  });
}

export interface CertChain {
  /** The leaf certificate and its key (what s_server -cert/-key take). */
  cert: string;
  key: string;
  /** The issuers above the leaf, nearest first, root last (s_server -cert_chain). */
  chain: string;
  /** Certificates in all, leaf and root included. */
  count: number;
  /** Bytes of PEM the server sends: leaf plus chain (DER on the wire is about 3/4 of it). */
  pemBytes: number;
}

/**
 * A real chain in `dir`: a self-signed root, `count - 2` intermediate CAs,
 * each signed by the one above, and a leaf for `subjectIp` signed by the
 * last. RSA 2048: about 1.1 kB of PEM per certificate.
 */
export async function makeCertChain(dir: string, opts: { count?: number; subjectIp?: string } = {}): Promise<CertChain> {
  const count = opts.count ?? 5;
  if (!Number.isInteger(count) || count < 2 || count > 10) throw new LabError(`certificate count ${count} out of 2..10`);
  const key = (i: number) => join(dir, `k${i}.pem`);
  const crt = (i: number) => join(dir, `c${i}.pem`);
  await Promise.all(
    Array.from({ length: count }, (_, i) => openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key(i)])),
  );
  await openssl(['req', '-x509', '-new', '-key', key(0), '-subj', '/CN=pmtu-watch lab root', '-days', '2', '-out', crt(0),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  for (let i = 1; i < count; i++) {
    const leaf = i === count - 1;
    const csr = join(dir, `r${i}.csr`);
    const ext = join(dir, `x${i}.cnf`);
    writeFileSync(ext, leaf ? `basicConstraints=CA:FALSE\n${opts.subjectIp ? `subjectAltName=IP:${opts.subjectIp}\n` : ''}` : 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
    await openssl(['req', '-new', '-key', key(i), '-subj', leaf ? '/CN=pmtu-watch lab server' : `/CN=pmtu-watch lab CA ${i}`, '-out', csr]);
    await openssl(['x509', '-req', '-in', csr, '-CA', crt(i - 1), '-CAkey', key(i - 1), '-set_serial', String(i + 1), '-days', '2', '-out', crt(i), '-extfile', ext]);
  }
  const chain = join(dir, 'chain.pem');
  const issuers = Array.from({ length: count - 1 }, (_, j) => crt(count - 2 - j)); // nearest issuer first
  writeFileSync(chain, issuers.map((f) => readFileSync(f, 'utf8')).join(''));
  return { cert: crt(count - 1), key: key(count - 1), chain, count, pemBytes: statSync(crt(count - 1)).size + statSync(chain).size };
}

export interface TlsOptions {
  serverNs: string;
  /** The address curl connects to (one of serverNs's). */
  serverAddr: string;
  clientNs: string;
  /** curl --max-time, 1..10 s. */
  maxSeconds: number;
  /** Default 4433. */
  port?: number;
  /** Certificates in the chain (default 5: about 5.5 kB of PEM). */
  certs?: number;
}

export interface TlsResult {
  /** curl's exit status: 0 done, 28 timed out (the stall), 7 could not connect, ... */
  curlExit: number | null;
  /** The HTTP status s_server answered with (200), or null. */
  httpCode: number | null;
  /** How long curl took. */
  ms: number;
  /** curl gave up at --max-time: the handshake or the response never completed. */
  stalled: boolean;
  certs: number;
  pemBytes: number;
}

/**
 * `openssl s_server -www` with a large certificate chain in serverNs (its
 * life bounded by `timeout`), one `curl -k --max-time` from clientNs, and
 * everything (server, key material) gone when this returns.
 */
export async function tlsDownload(lab: NetLab, opts: TlsOptions): Promise<TlsResult> {
  const max = opts.maxSeconds;
  if (!Number.isInteger(max) || max < 1 || max > 10) throw new LabError(`TLS max seconds ${max} out of 1..10`);
  const port = opts.port ?? 4433;
  const dir = mkdtempSync(join(tmpdir(), 'pmtu-tls-'));
  try {
    const chain = await makeCertChain(dir, { count: opts.certs ?? 5, subjectIp: opts.serverAddr.includes(':') ? undefined : opts.serverAddr });
    const server = lab.spawn(opts.serverNs, [
      'timeout', String(max + 10),
      'openssl', 's_server', '-quiet', '-www', '-accept', String(port),
      '-cert', chain.cert, '-key', chain.key, '-cert_chain', chain.chain,
    ]);
    let exited = false;
    void server.exited.then(() => (exited = true));
    try {
      await waitFor(async () => {
        if (exited) throw new LabError(`openssl s_server exited early: ${server.output().stderr.trim()}`);
        const r = await lab.exec(opts.serverNs, ['ss', '-Hltn', `sport = :${port}`], { timeoutMs: 3000 });
        return r.stdout.trim() !== '';
      }, 5000);
      const host = opts.serverAddr.includes(':') ? `[${opts.serverAddr}]` : opts.serverAddr;
      const t0 = Date.now();
      const curl = await lab.exec(
        opts.clientNs,
        ['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '--connect-timeout', String(Math.min(3, max)), '--max-time', String(max), `https://${host}:${port}/`],
        { timeoutMs: (max + 5) * 1000 },
      );
      const code = Number(curl.stdout.trim());
      return {
        curlExit: curl.code,
        httpCode: Number.isInteger(code) && code > 0 ? code : null,
        ms: Date.now() - t0,
        stalled: curl.code === 28 || curl.timedOut,
        certs: chain.count,
        pemBytes: chain.pemBytes,
      };
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
