// The session's standard output: bounded, never waiting, dropped lines counted.

import { describe, expect, it } from 'vitest';

import { LineOutput } from '../../src/sinks/output.js';
import { StalledReader } from '../helpers/stdout.js';

describe('LineOutput', () => {
  it('a reader that stopped reading: at most the bound waits, later lines are dropped and counted', () => {
    const reader = new StalledReader();
    const out = new LineOutput(reader, 1000);
    const line = 'x'.repeat(99); // 100 bytes with its newline
    let written = 0;
    for (let i = 0; i < 50; i++) if (out.line(line)) written++;
    expect(written).toBe(10);
    expect(out.dropped).toBe(40);
    expect(reader.writableLength).toBe(1000);
  });

  it('ready() waits while lines wait, and resolves once the reader takes them', async () => {
    const reader = new StalledReader();
    const out = new LineOutput(reader, 10_000);
    expect(out.ready()).toBeUndefined();
    for (let i = 0; i < 5; i++) out.line('y'.repeat(99));
    const ready = out.ready();
    expect(ready).toBeInstanceOf(Promise);
    let resolved = false;
    void ready!.then(() => (resolved = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(resolved).toBe(false);
    reader.release();
    await ready;
    expect(reader.taken).toHaveLength(5);
    expect(out.ready()).toBeUndefined();
    expect(out.dropped).toBe(0);
  });
});
