// The one error class: what fromNative makes of whatever was thrown, and the
// one line the CLI prints for it.

import { describe, expect, it } from 'vitest';

import { fromNative, oneLine, PmtuError } from '../src/errors.js';

describe('PmtuError', () => {
  it('carries a stable code, the message and a hint', () => {
    const e = new PmtuError('PMTU_ERR_NO_BTF', '/sys/kernel/btf/vmlinux is missing', 'use a kernel built with CONFIG_DEBUG_INFO_BTF');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('PmtuError');
    expect(e.code).toBe('PMTU_ERR_NO_BTF');
    expect(e.message).toBe('/sys/kernel/btf/vmlinux is missing');
    expect(e.hint).toBe('use a kernel built with CONFIG_DEBUG_INFO_BTF');
    expect(new PmtuError('PMTU_ERR_STATE', 'x').hint).toBe('');
  });
});

describe('fromNative', () => {
  it('returns a PmtuError as it is', () => {
    const e = new PmtuError('PMTU_ERR_LAB', 'lab broke', 'clean up');
    expect(fromNative(e)).toBe(e);
  });

  it("keeps the addon's code and hint", () => {
    const native = Object.assign(new Error('cannot attach tc to eth0'), { code: 'PMTU_ERR_ATTACH', hint: 'is it up?' });
    const e = fromNative(native);
    expect(e).toBeInstanceOf(PmtuError);
    expect(e.code).toBe('PMTU_ERR_ATTACH');
    expect(e.message).toBe('cannot attach tc to eth0');
    expect(e.hint).toBe('is it up?');
  });

  it('an addon error without a hint, or with a non-string one, has an empty hint', () => {
    expect(fromNative(Object.assign(new Error('m'), { code: 'PMTU_ERR_PERM' })).hint).toBe('');
    expect(fromNative(Object.assign(new Error('m'), { code: 'PMTU_ERR_PERM', hint: 42 })).hint).toBe('');
  });

  it('any other Error is PMTU_ERR_INVALID with its message (a Node code like ENOENT is not one of ours)', () => {
    const e = fromNative(Object.assign(new Error('no such file'), { code: 'ENOENT' }));
    expect(e.code).toBe('PMTU_ERR_INVALID');
    expect(e.message).toBe('no such file');
    expect(e.hint).toBe('');
    expect(fromNative(new TypeError('x is not a function')).code).toBe('PMTU_ERR_INVALID');
  });

  it('a thrown non-Error becomes its text', () => {
    expect(fromNative('just a string').message).toBe('just a string');
    expect(fromNative(42).message).toBe('42');
    expect(fromNative(undefined).code).toBe('PMTU_ERR_INVALID');
  });
});

describe('oneLine', () => {
  it('pmtu-watch: message (hint)', () => {
    expect(oneLine(new PmtuError('PMTU_ERR_PERM', 'loading BPF programs needs CAP_BPF', 'run as root'))).toBe(
      'pmtu-watch: loading BPF programs needs CAP_BPF (run as root)',
    );
  });

  it('no parentheses without a hint', () => {
    expect(oneLine(new PmtuError('PMTU_ERR_STATE', 'observer already started'))).toBe('pmtu-watch: observer already started');
    expect(oneLine(new Error('plain'))).toBe('pmtu-watch: plain');
  });

  it('stays one line when the message and hint contain newlines', () => {
    const native = Object.assign(new Error('libbpf: failed to load program\n  R1 invalid mem access\n\nprocessed 12 insns\n'), {
      code: 'PMTU_ERR_BPF_LOAD',
      hint: 'report it with the output of\n  uname -r',
    });
    const line = oneLine(native);
    expect(line).not.toMatch(/[\r\n]/);
    expect(line).toBe('pmtu-watch: libbpf: failed to load program R1 invalid mem access processed 12 insns (report it with the output of uname -r)');
  });

  it('handles CRLF and a thrown string too', () => {
    expect(oneLine('first\r\nsecond')).toBe('pmtu-watch: first second');
  });
});
