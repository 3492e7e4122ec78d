// `pmtu-watch report FILE`: the digest of a capture (its events through the
// correlator live uses) as JSON verdict lines exactly as `live --json` printed
// them (--json), or as the readable incident report.

import { oneLine } from '../errors.js';
import { digest, reportLines, type Digest } from '../sinks/digest.js';
import type { Io } from './io.js';

export interface ReportOptions {
  json?: boolean;
}

export function runReport(file: string, opts: ReportOptions, io: Io): number {
  let d: Digest;
  try {
    d = digest(file, opts.json ? (v) => io.out(JSON.stringify(v)) : undefined);
  } catch (e) {
    io.err(oneLine(e));
    return 1;
  }
  if (opts.json) {
    if (!d.sameAsRecorded) io.err(`pmtu-watch: warning: ${file}: the recorded verdicts differ from this correlator's (${d.recordedVerdicts} recorded, ${d.verdicts} now)`);
    io.err(`pmtu-watch: ${file}: ${d.stop}`);
  } else {
    for (const line of reportLines(file, d)) io.out(line);
  }
  if (d.failure) {
    io.err(oneLine(d.failure));
    return 1;
  }
  return 0;
}
