// `pmtu-watch audit`: read the network configuration, print what will drop
// large packets before any traffic does. Exit 1 when a finding reaches --fail-on.

import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';

import { compareBaseline, parseBaseline, toBaseline } from '../audit/baseline.js';
import { collect, type Scope } from '../audit/collect.js';
import type { HostSources } from '../netns/discovery.js';
import { auditText } from '../audit/format.js';
import { audit, severityAtLeast } from '../audit/rules.js';
import { SEVERITIES, type Severity } from '../audit/types.js';
import { oneLine } from '../errors.js';
import { loadAddon, type NativeAddon } from '../observer/addon.js';
import { PmtuError } from '../errors.js';
import type { Io } from './io.js';

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new PmtuError('PMTU_ERR_INVALID', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export interface AuditOptions extends Scope {
  json: boolean;
  routes: boolean;
  /** Keep this configuration in FILE, to compare with later (--against). */
  save?: string;
  /** Compare with a configuration kept by --save (an earlier day, a host that works). */
  against?: string;
  /** 'none': never fail on findings. */
  failOn: Severity | 'none';
}

export interface AuditDeps {
  /** Loaded on first use, so flag and namespace-name errors need no addon. */
  addon?: () => Pick<NativeAddon, 'readNetConfig' | 'readSysctls'>;
  sources?: HostSources;
}

export const FAIL_ON = [...SEVERITIES, 'none'] as const;

/** Exit code: 0 clean, 1 a finding at or above failOn, 2 nothing could be audited. */
export function runAudit(opts: AuditOptions, io: Io, deps: AuditDeps = {}): number {
  let result;
  try {
    // The baseline is read first: a bad file is a usage error before any namespace is entered.
    const baseline = opts.against ? parseBaseline(readText(opts.against), opts.against) : undefined;
    const snapshot = collect(deps.addon ?? loadAddon, { netns: opts.netns, allNetns: opts.allNetns }, deps.sources);
    result = audit(snapshot);
    if (baseline) result.findings.push(...compareBaseline(baseline, snapshot));
    if (opts.save) {
      writeFileSync(opts.save, `${JSON.stringify(toBaseline(snapshot, hostname(), Date.now()))}\n`);
      io.err(`pmtu-watch: kept the configuration of ${result.scope.length} namespace(s) in ${opts.save}; compare with: pmtu-watch audit --against ${opts.save}`);
    }
  } catch (e) {
    io.err(oneLine(e));
    return 2;
  }
  if (result.scope.length === 0) {
    io.err(`pmtu-watch: no namespace could be read${result.problems.length ? `: ${result.problems[0]}` : ''} (run as root)`);
    return 2;
  }
  if (opts.json) io.out(JSON.stringify(result));
  else for (const line of auditText(result, { routes: opts.routes })) io.out(line);
  const failOn = opts.failOn;
  return failOn !== 'none' && result.findings.some((f) => severityAtLeast(f.severity, failOn)) ? 1 : 0;
}
