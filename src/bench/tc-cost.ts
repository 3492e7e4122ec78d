// 1. What the tc program costs per packet: BPF_PROG_TEST_RUN of pmtu-watch's
// program and of an empty one, frame by frame, round by round (the C peer).

import { runCPeer } from './c-peer.js';
import { benchFrames } from './frames.js';
import { median, notAvailable, type Figure, type Section } from './report.js';

const ROUNDS = 9;
/** Fits the 8 MiB ring buffer (15k records of 520 bytes, with their 8-byte headers): emitting runs never take the buffer-full path. */
const REPEAT = 12288;
/**
 * Targets (issues #6 and #11), as multiples of the empty program: a bare ACK
 * is parsed and let go; a full-size DF segment checks the flow it belongs to
 * (this CPU's cached copy, or the flow table); a SYN updates its flow's entry
 * and the hook's counters instead of waking userspace.
 */
const MAX_RATIO: Record<string, number> = { ack: 1.5, tcp: 4, syn: 8 };
const PTB_MAX_NS = 400;

interface CostOutput {
  ringbufFull: number;
  frames: { emptyNs: number[]; tcNs: number[] }[];
}

export async function measureTcCost(): Promise<Section> {
  const frames = benchFrames();
  const section: Section = {
    id: 'tc',
    title: '1. tc program, per packet',
    how: `BPF_PROG_TEST_RUN on lo, ${ROUNDS} rounds per frame, median; ns per run from the wall time of ${REPEAT / 2} and of ${REPEAT} repeats, their difference over the extra runs (the kernel's own figure is whole ns); empty program = "r0 = -1; exit", run alternately with it`,
    figures: [],
  };
  let out: CostOutput;
  try {
    out = await runCPeer<CostOutput>(['cost', String(ROUNDS), String(REPEAT), ...frames.map((f) => f.frame.toString('hex'))]);
  } catch (e) {
    const why = (e as Error).message;
    section.figures.push(notAvailable('tc.empty', 'empty tc program', 'ns', why, true));
    for (const f of frames) section.figures.push(notAvailable(`tc.${f.id}`, f.label, 'ns', why));
    return section;
  }
  const empty = median(out.frames.flatMap((f) => f.emptyNs));
  section.figures.push({ id: 'tc.empty', label: 'empty tc program', value: empty, unit: 'ns', peer: true });
  frames.forEach((f, i) => {
    const runs = out.frames[i]!;
    const ns = median(runs.tcNs);
    const ratio = ns / median(runs.emptyNs);
    const fig: Figure = {
      id: `tc.${f.id}`,
      label: `${f.label}${f.emits ? ' (event)' : ''}`,
      value: ns,
      unit: 'ns',
      ratio: { value: ratio, of: 'empty', style: 'times' },
    };
    const max = MAX_RATIO[f.id.replace(/\d$/, '')];
    if (max !== undefined) fig.target = { text: `<= ${max}x empty`, pass: ratio <= max };
    if (f.id.startsWith('ptb')) fig.target = { text: `< ${PTB_MAX_NS} ns`, pass: ns < PTB_MAX_NS };
    section.figures.push(fig);
  });
  if (out.ringbufFull > 0) section.figures.at(-1)!.note = `${out.ringbufFull} events found the ring buffer full`;
  return section;
}
