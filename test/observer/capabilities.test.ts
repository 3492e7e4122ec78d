// Which capabilities a process lacks to watch, from /proc/self/status.

import { describe, expect, it } from 'vitest';

import { capabilityWarning, missingCapabilities } from '../../src/observer/index.js';

const status = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;

describe('missingCapabilities', () => {
  it('root with every capability: nothing missing', () => {
    expect(missingCapabilities(status('000001ffffffffff'), true)).toBeUndefined();
  });

  it('none: CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, each with what needs it, as PMTU_ERR_PERM', () => {
    const e = missingCapabilities(status('0000000000000000'), false)!;
    expect(e.code).toBe('PMTU_ERR_PERM');
    expect(e.message).toBe('not permitted: this process lacks CAP_BPF (loading the eBPF programs), CAP_PERFMON (the tracepoints and their ring buffer), CAP_NET_ADMIN (attaching to tc)');
  });

  it('CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON, and is needed for other namespaces', () => {
    const netAdmin = 1n << 12n;
    const sysAdmin = 1n << 21n;
    const bpf = (1n << 38n) | (1n << 39n);
    expect(missingCapabilities(status((netAdmin | sysAdmin).toString(16).padStart(16, '0')), true)).toBeUndefined();
    expect(missingCapabilities(status((netAdmin | bpf).toString(16).padStart(16, '0')), false)).toBeUndefined();
    expect(missingCapabilities(status((netAdmin | bpf).toString(16).padStart(16, '0')), true)?.message).toBe(
      'not permitted: this process lacks CAP_SYS_ADMIN (entering other network namespaces)',
    );
  });

  it('no CapEff line (not the Linux it knows): leaves it to the kernel to say', () => {
    expect(missingCapabilities('Name:\tnode\n', true)).toBeUndefined();
  });
});

describe('capabilityWarning', () => {
  const hex = (caps: bigint) => caps.toString(16).padStart(16, '0');
  const watchable = (1n << 12n) | (1n << 21n);

  it('--all-netns without CAP_SYS_PTRACE: other users’ containers are said to go unwatched', () => {
    expect(capabilityWarning(status(hex(watchable)), true)).toMatch(/^without CAP_SYS_PTRACE .*containers running as non-root.* not watched/);
  });

  it('with it, or without --all-netns, or no CapEff line: nothing to say', () => {
    expect(capabilityWarning(status(hex(watchable | (1n << 19n))), true)).toBeUndefined();
    expect(capabilityWarning(status(hex(watchable)), false)).toBeUndefined();
    expect(capabilityWarning('Name:\tnode\n', true)).toBeUndefined();
  });
});
