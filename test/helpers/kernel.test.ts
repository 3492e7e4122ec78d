import { describe, expect, it } from 'vitest';
import { inCi, kernelSkipReason, needCommands } from './kernel.js';

describe('kernel test rule', () => {
  it('treats CI as set unless empty, "false" or "0"', () => {
    expect(inCi({ CI: 'true' })).toBe(true);
    expect(inCi({ CI: '1' })).toBe(true);
    expect(inCi({ CI: 'false' })).toBe(false);
    expect(inCi({ CI: '0' })).toBe(false);
    expect(inCi({ CI: '' })).toBe(false);
    expect(inCi({})).toBe(false);
  });
  it('gives the first unmet requirement, root first', () => {
    const root = process.getuid?.() === 0;
    const reason = kernelSkipReason([() => 'needs a unicorn', () => 'needs two']);
    expect(reason).toBe(root ? 'needs a unicorn' : expect.stringMatching(/^needs root/));
  });
  it('finds commands on PATH and names the missing ones', () => {
    expect(needCommands('sh')()).toBeUndefined();
    expect(needCommands('sh', 'no-such-tool-xyz')()).toMatch(/^needs no-such-tool-xyz/);
  });
});
