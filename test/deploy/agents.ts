// Processes the deploy kernel tests run and always stop: `pmtu-watch serve`
// (one per simulated node, with the capabilities the DaemonSet and the unit
// grant) and a real Prometheus server with its own config and storage.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { waitFor } from '../../src/lab/traffic.js';
import { BIN } from '../helpers/live.js';
import { readFileSync } from 'node:fs';
import { UNIT, unitDirectives } from './helpers.js';

/** The unit's CapabilityBoundingSet as setpriv spells it: -all,+bpf,+perfmon,... */
export function unitBoundingSet(): string {
  const caps = unitDirectives(readFileSync(UNIT, 'utf8')).get('CapabilityBoundingSet')![0]!.split(' ');
  return ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
}

/** Stops a child: `signal`, then SIGKILL after graceMs. Resolves with its exit code. */
export async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGINT', graceMs = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit') as Promise<[number | null]>;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const [code] = await exited;
  clearTimeout(timer);
  return code;
}

export interface Serve {
  child: ChildProcess;
  port: number;
  stderr: () => string;
}

/**
 * `pmtu-watch serve --listen 127.0.0.1:0` watching the given namespaces,
 * with only the unit's capabilities (setpriv's bounding set: root keeps no
 * other), `wrap` before node (strace); resolves once it listens.
 */
export async function startServe(netns: string[], opts: { token: string; wrap?: string[]; extra?: string[] }): Promise<Serve> {
  const argv = ['setpriv', `--bounding-set=${unitBoundingSet()}`, '--inh-caps=-all', '--', ...(opts.wrap ?? []), process.execPath, BIN, 'serve', '--listen', '127.0.0.1:0', ...netns.flatMap((n) => ['--netns', n]), ...(opts.extra ?? [])];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PMTU_WATCH_TOKEN: opts.token } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const port = await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${stderr}`);
      const m = /feed on ws:\/\/127\.0\.0\.1:(\d+)\/feed/.exec(stderr);
      return m ? Number(m[1]) : undefined;
    }, 20_000);
    return { child, port, stderr: () => stderr };
  } catch (e) {
    await stop(child);
    throw e;
  }
}

/** A port nothing listens on now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export interface PrometheusServer {
  url: string;
  child: ChildProcess;
  dir: string;
  log: () => string;
  /** GET /api/v1/PATH's data. */
  api<T = unknown>(path: string): Promise<T>;
  close(): Promise<void>;
}

/**
 * Debian's prometheus with its own config, rules and storage in a temp dir,
 * on 127.0.0.1; resolves once /-/ready answers. close() stops it and removes the dir.
 */
export async function startPrometheus(config: string, files: Record<string, string>): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'pmtu-prom-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const child = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn', '--storage.tsdb.retention.time=1h'],
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir },
  );
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const url = `http://127.0.0.1:${port}`;
  const server: PrometheusServer = {
    url,
    child,
    dir,
    log: () => log,
    async api<T>(path: string): Promise<T> {
      const r = (await (await fetch(`${url}/api/v1/${path}`, { signal: AbortSignal.timeout(5000) })).json()) as { status: string; data: T; error?: string };
      if (r.status !== 'success') throw new Error(`prometheus ${path}: ${r.error}`);
      return r.data;
    },
    async close() {
      await stop(child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log}`);
      return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok;
    }, 20_000, 200);
    return server;
  } catch (e) {
    await server.close();
    throw e;
  }
}
