// deploy/systemd/pmtu-watch.service: `systemd-analyze verify` (with ExecStart
// pointed at this checkout's bin/pmtu-watch.js: verify checks that the
// program exists, and /usr/bin/pmtu-watch is where `npm install -g` puts it
// only on a host it was installed on), its exposure by `systemd-analyze
// security --offline`, and the unit agreeing with the DaemonSet and the CLI.
// alerts.kernel.test.ts runs serve under the unit's capabilities and checks
// its system calls against the unit's filter.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, expect, it } from 'vitest';

import { createProgram } from '../../src/cli/main.js';
import { ROOT, run, toolDescribe, UNIT, unitDirectives, yamlDocs } from './helpers.js';

const text = readFileSync(UNIT, 'utf8');
const unit = unitDirectives(text);
const one = (k: string) => unit.get(k)?.[0];

toolDescribe('deploy: the systemd unit', ['systemd-analyze'], () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmtu-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, 'pmtu-watch.service');
  writeFileSync(copy, text.replace(/^ExecStart=\/usr\/bin\/pmtu-watch /m, `ExecStart=${join(ROOT, 'bin/pmtu-watch.js')} `));

  it('systemd-analyze verify deploy/systemd/pmtu-watch.service (ExecStart at this checkout)', async () => {
    expect(readFileSync(copy, 'utf8')).not.toBe(text);
    const r = await run('systemd-analyze', ['verify', copy]);
    expect(r.stderr.trim()).toBe('');
  });

  it('systemd-analyze security --offline=yes: exposure below 4 ("OK")', async () => {
    const r = await run('systemd-analyze', ['security', '--offline=yes', copy]).catch((e: { stdout: string }) => e);
    const m = /Overall exposure level for pmtu-watch\.service: ([\d.]+) (\w+)/.exec(r.stdout);
    expect(m).not.toBeNull();
    console.log(`systemd-analyze security: exposure ${m![1]} ${m![2]}`);
    expect(Number(m![1])).toBeLessThan(4);
  });
});

it('the unit runs serve with flags that exist, journald-friendly, on port 9477, with the DaemonSet\'s capabilities', () => {
  const exec = one('ExecStart')!.split(/\s+/);
  expect(exec.slice(0, 2)).toEqual(['/usr/bin/pmtu-watch', 'serve']);
  const serve = createProgram().program.commands.find((x) => x.name() === 'serve')!;
  const flags = new Set(serve.options.map((o) => o.long));
  expect(exec.filter((a) => a.startsWith('--')).filter((a) => !flags.has(a))).toEqual([]);
  expect(exec).toContain('--all-netns');
  expect(exec[exec.indexOf('--listen') + 1]).toBe('${PMTU_WATCH_LISTEN}');
  expect(unit.get('Environment')).toContain('PMTU_WATCH_LISTEN=127.0.0.1:9477');
  expect(one('EnvironmentFile')).toBe('-/etc/default/pmtu-watch');
  expect(one('SyslogIdentifier')).toBe('pmtu-watch');
  expect(unit.has('StandardOutput')).toBe(false); // the journal, systemd's default
  expect(one('Restart')).toBe('on-failure');

  const ds = yamlDocs('kubernetes').find((d) => d.doc.kind === 'DaemonSet')!.doc as { spec: { template: { spec: { containers: { securityContext: { capabilities: { add: string[] } } }[] } } } };
  const caps = ds.spec.template.spec.containers[0]!.securityContext.capabilities.add.map((c) => `CAP_${c}`);
  expect(one('CapabilityBoundingSet')!.split(' ')).toEqual(caps);
  // What would break it: hiding other processes, a private network, no JIT, no setns into network namespaces.
  for (const k of ['ProtectProc', 'ProcSubset', 'PrivateNetwork', 'PrivateUsers', 'MemoryDenyWriteExecute', 'DynamicUser', 'User']) expect(unit.has(k), k).toBe(false);
  expect(one('RestrictNamespaces')).toBe('net');
  expect(one('RestrictAddressFamilies')!.split(' ')).toContain('AF_NETLINK');
  expect(one('RuntimeDirectory')).toBe('pmtu-watch');
  expect(one('RuntimeDirectoryPreserve')).toBe('yes');
});
