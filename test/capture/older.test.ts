// A capture recorded by pmtu-watch 0.1 (every SYN an event, no kernel flow
// state on events, no traffic counts; made by `record` of that version on
// the lab's rp-filter scenario): this version reads it and gives the same
// verdict, as the issue that changed the record promised.

import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { runReport } from '../../src/cli/report.js';
import { CaptureReader } from '../../src/capture/reader.js';

const V01 = fileURLToPath(new URL('../fixtures/captures/v0.1-rp-filter.pmtucap', import.meta.url));

describe('a capture from pmtu-watch 0.1', () => {
  it('reads whole: its header names 0.1.0, its events have no kernel flow state', () => {
    const r = CaptureReader.open(V01);
    expect(r.header.tool).toBe('pmtu-watch 0.1.0');
    const events = [...r.records()].flatMap((x) => (x.type === 'event' ? [x.event] : []));
    r.close();
    expect(events.length).toBe(14);
    expect(events.every((e) => e.kind === 'route' || e.kind === 'link' || e.flow === undefined)).toBe(true);
    expect(r.state.ending).toBe('end');
  });

  it('report --json gives the verdict 0.1 gave: the PTB from the management address eaten by rp_filter on s', () => {
    const out: string[] = [];
    const err: string[] = [];
    expect(runReport(V01, { json: true }, { out: (l) => out.push(l), err: (l) => err.push(l) })).toBe(0);
    const verdicts = out.map((l) => JSON.parse(l) as { verdict: string; cause: string | null; where: { iface: string; hop: string }; mtu: number });
    expect(verdicts.at(-1)).toMatchObject({ verdict: 'ptb-dropped', cause: 'rp_filter', where: { iface: 'to-r2', hop: '198.19.0.1' }, mtu: 1500 });
    expect(err.join('\n')).not.toMatch(/differ/);
  });
});
