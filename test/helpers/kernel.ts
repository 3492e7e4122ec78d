// The one rule for root-only tests (*.kernel.test.ts): when the machine
// cannot run them they are skipped with the reason printed — except in CI
// (env CI set, and not "false"/"0"), where they fail instead, so a CI run
// can never pass by skipping everything.
//
//   kernelDescribe('routed path', () => { it(...) });
//   kernelDescribe('observer', () => { ... }, { requires: [needBtf, needCommands('tc')] });

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it } from 'vitest';

/** Returns why the machine cannot run the tests, or undefined when it can. */
export type Requirement = () => string | undefined;

export const needRoot: Requirement = () =>
  process.getuid?.() === 0 ? undefined : `needs root (running as uid ${process.getuid?.() ?? '?'})`;

export const needBtf: Requirement = () => needFile('/sys/kernel/btf/vmlinux', 'kernel BTF (CONFIG_DEBUG_INFO_BTF)')();

export function needFile(path: string, what: string): Requirement {
  return () => {
    try {
      accessSync(path, constants.R_OK);
      return undefined;
    } catch {
      return `needs ${what} (${path} is not readable)`;
    }
  };
}

/** Executables that must be on PATH (sbin directories included). */
export function needCommands(...names: string[]): Requirement {
  return () => {
    const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].filter((d) => d !== '');
    const missing = names.filter(
      (n) =>
        !dirs.some((d) => {
          try {
            accessSync(join(d, n), constants.X_OK);
            return true;
          } catch {
            return false;
          }
        }),
    );
    return missing.length ? `needs ${missing.join(', ')} (apt-get install iproute2 iputils-ping nftables iperf3 …)` : undefined;
  };
}

/** The built native addon (npm install builds it). */
export const needAddon: Requirement = needFile('build/Release/pmtu_native.node', 'the built addon (npm install)');

/** Tools the lab (src/lab) drives. */
export const needLabTools: Requirement = needCommands('ip', 'sysctl', 'ping', 'nft', 'iperf3', 'ss');

export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== 'false' && v !== '0';
}

/** The first unmet requirement (root is always required), or undefined. */
export function kernelSkipReason(requires: Requirement[] = []): string | undefined {
  for (const r of [needRoot, ...requires]) {
    const why = r();
    if (why) return why;
  }
  return undefined;
}

export interface KernelDescribeOptions {
  /** Checked after root, in order; the first unmet one is the reason. */
  requires?: Requirement[];
}

/**
 * describe() for root-only tests: runs `fn` when the machine can; otherwise
 * skips with the reason (printed and in the suite's name), or in CI fails.
 */
export function kernelDescribe(name: string, fn: () => void, opts: KernelDescribeOptions = {}): void {
  const reason = kernelSkipReason(opts.requires);
  if (reason === undefined) {
    describe(name, fn);
  } else if (inCi()) {
    describe(name, () => {
      it('can run here (CI does not skip kernel tests)', () => {
        throw new Error(`kernel test "${name}" cannot run: ${reason}`);
      });
    });
  } else {
    console.warn(`[kernel] skipping "${name}": ${reason}`);
    describe.skip(`${name} (skipped: ${reason})`, fn);
  }
}
