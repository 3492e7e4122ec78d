// The tables that name the kernel's numbers (src/observer/decode.ts, the
// contract's flag names) against bpf/events.h itself: a kind, flag or size
// added on one side and not the other fails here, not in the field.

import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { ENCAP_TYPE_NAMES, FLAG_NAMES } from '../../src/contract/event.js';
import { decodeRecord, ENCAP_TYPES, RECORD_LAYOUT, RECORD_SIZE, SNAP_MAX } from '../../src/observer/decode.js';
import type { EventFlags } from '../../src/observer/events.js';
import { record } from '../helpers/records.js';

const HEADER = readFileSync(new URL('../../bpf/events.h', import.meta.url), 'utf8');
const PROTO_FILE = readFileSync(new URL('../../proto/pmtu.proto', import.meta.url), 'utf8');

function enumValues(prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of HEADER.matchAll(new RegExp(`\\b${prefix}([A-Z_0-9]+)\\s*=\\s*(1\\s*<<\\s*)?(\\d+)`, 'g'))) {
    out.set(m[1]!, m[2] ? 1 << Number(m[3]) : Number(m[3]));
  }
  return out;
}

describe('bpf/events.h and the decoder agree', () => {
  it('on the record size (its _Static_assert)', () => {
    const m = /sizeof\(struct pmtu_event\) == (\d+)/.exec(HEADER);
    expect(Number(m![1])).toBe(RECORD_SIZE);
    const snap = Number(/#define PMTU_SNAP_LEN (\d+)/.exec(HEADER)![1]);
    expect(SNAP_MAX).toBe(snap);
    expect(RECORD_LAYOUT.snap + snap).toBe(RECORD_SIZE);
    const encap = Number(/sizeof\(struct pmtu_encap\) == (\d+)/.exec(HEADER)![1]);
    expect(RECORD_LAYOUT.encap + encap).toBe(RECORD_LAYOUT.snap);
  });

  it('on every tunnel type, and the contract and the protobuf schema name each one', () => {
    const types = enumValues('PMTU_ENCAP_');
    expect(types.get('NONE')).toBe(0);
    types.delete('NONE');
    expect(types.size).toBe(8);
    for (const [name, value] of types) {
      const lower = name.toLowerCase();
      expect(ENCAP_TYPES[value], name).toBe(lower);
      expect(ENCAP_TYPE_NAMES[value - 1], name).toBe(lower);
      expect(PROTO_FILE).toMatch(new RegExp(`ENCAP_TYPE_${name} = ${value};`));
    }
    expect(Object.keys(ENCAP_TYPES).length).toBe(types.size);
  });

  it('on every kind', () => {
    const kinds = enumValues('PMTU_KIND_');
    expect(kinds.size).toBeGreaterThanOrEqual(6);
    for (const [name, value] of kinds) {
      expect(decodeRecord(record({ kind: value }))?.kind, name).toBe(name.toLowerCase().replace(/_/g, '-'));
    }
  });

  it('on every flag bit, and the contract names each one', () => {
    const key: Record<string, keyof EventFlags> = {
      DF: 'df', GSO: 'gso', ICMP_ERR: 'icmpError', OVERSIZE: 'oversize', SYNACK: 'synAck', INNER_TRUNC: 'innerTruncated', LOCAL: 'local', QUOTE_MISMATCH: 'quoteMismatch',
    };
    const flags = enumValues('PMTU_F_');
    expect([...flags.keys()].sort()).toEqual(Object.keys(key).sort());
    for (const [name, bit] of flags) {
      const decoded = decodeRecord(record({ kind: 1, flags: bit }))!.flags;
      expect(Object.entries(decoded).filter(([, on]) => on).map(([k]) => k), name).toEqual([key[name]]);
    }
    expect(FLAG_NAMES.map(([k]) => k).sort()).toEqual(Object.values(key).sort());
  });
});
