// Runs `pmtu-watch probe` as a user would (the built bin, a child process, bounded) and hands back its line.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import type { ProbeJson } from '../../src/contract/probe.js';
import { BIN } from '../helpers/live.js';

const run = promisify(execFile);

export interface ProbeRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  json?: ProbeJson;
}

export async function runProbe(args: string[], maxSeconds = 40): Promise<ProbeRun> {
  const t0 = Date.now();
  try {
    const r = await run(process.execPath, [BIN, 'probe', ...args], { timeout: maxSeconds * 1000, killSignal: 'SIGINT' });
    return finish(0, r.stdout, r.stderr, t0, args);
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return finish(typeof err.code === 'number' ? err.code : -1, err.stdout ?? '', err.stderr ?? '', t0, args);
  }
}

function finish(code: number, stdout: string, stderr: string, t0: number, args: string[]): ProbeRun {
  const r: ProbeRun = { code, stdout, stderr, ms: Date.now() - t0 };
  if (args.includes('--json') && stdout.trim()) r.json = JSON.parse(stdout.trim().split('\n').pop()!) as ProbeJson;
  return r;
}
