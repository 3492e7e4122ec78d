// Runs bench/pmtu-bench.c (built by binding.gyp next to the addon): the
// empty tc program and the bare libbpf consumer. One JSON object out.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const C_PEER = fileURLToPath(new URL('../../build/Release/pmtu-bench', import.meta.url));

/** Throws an Error whose message is one line saying why, for an n/a row. */
export function runCPeer<T>(args: string[], timeoutMs = 60_000): Promise<T> {
  if (!existsSync(C_PEER)) return Promise.reject(new Error(`${C_PEER} is not built: run npm install`));
  return new Promise((resolve, reject) => {
    execFile(C_PEER, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const why = stderr.trim().split('\n').at(-1) || (err.killed ? 'timed out' : err.message.split('\n')[0]);
        reject(new Error(why));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as T);
      } catch {
        reject(new Error(`pmtu-bench printed no JSON: ${stdout.slice(0, 80)}`));
      }
    });
  });
}
