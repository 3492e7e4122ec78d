// Without the capabilities BPF needs, live says so in one line and exits 1.

import { spawnSync } from 'node:child_process';

import { expect, it } from 'vitest';

import { kernelDescribe, needAddon, needCommands } from '../helpers/kernel.js';
import { BIN } from '../helpers/live.js';

kernelDescribe(
  'live without privileges',
  () => {
    it('prints one line naming the missing capabilities and exits 1', () => {
      // Root with an empty capability bounding set: files stay readable, BPF does not load.
      const r = spawnSync('setpriv', ['--bounding-set=-all', process.execPath, BIN, 'live', '--duration', '1'], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^pmtu-watch: .*Operation not permitted.*CAP_BPF/);
    });
  },
  { requires: [needCommands('setpriv'), needAddon] },
);
