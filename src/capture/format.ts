// The bytes of a capture file (what `pmtu-watch record` writes):
//
//   preamble   16 bytes
//     0  12  magic: 89 'P' 'M' 'T' 'U' 'C' 'A' 'P' 0D 0A 1A 0A
//               (the \x89 and \r\n\x1a\n catch 7-bit and newline-mangling copies, as PNG's do)
//    12   2  format version, little-endian: 1
//    14   2  flags, little-endian: 0 (none defined; a reader refuses others)
//   records, one after another until the end of the file, each:
//     varint      n: length of the message (protobuf base-128, 1..5 bytes), 1 <= n <= MAX_RECORD
//     n bytes     a pmtu.v1.Record message (proto/pmtu.proto)
//     4 bytes     CRC-32 (IEEE, as zlib and gzip) of those n bytes, little-endian
//
// The first record is a Header; the last, when the recording finished, an
// End. A file cut off anywhere (kill -9, a full disk) is a whole number of
// records followed by part of one: readers keep the whole ones. The CRC
// tells a cut-off from corruption. Format 1 carries schema pmtu.v1.

export const MAGIC = Buffer.from([0x89, 0x50, 0x4d, 0x54, 0x55, 0x43, 0x41, 0x50, 0x0d, 0x0a, 0x1a, 0x0a]);
export const FORMAT_VERSION = 1;
export const PREAMBLE_SIZE = 16;
/** Largest record a reader accepts (and a writer writes): a bound on memory, far above any real record. */
export const MAX_RECORD = 16 * 1024 * 1024;
/** Bytes around a record's message: at most 5 of length, 4 of CRC. */
export const MAX_FRAME_OVERHEAD = 9;

export function preamble(version = FORMAT_VERSION, flags = 0): Buffer {
  const b = Buffer.alloc(PREAMBLE_SIZE);
  MAGIC.copy(b, 0);
  b.writeUInt16LE(version, 12);
  b.writeUInt16LE(flags, 14);
  return b;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, reflected, as zlib's crc32). */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One record's bytes: length, message, CRC. */
export function frame(message: Uint8Array): Buffer {
  const n = message.length;
  let lenBytes = 1;
  for (let v = n; v >= 0x80; v >>>= 7) lenBytes++;
  const out = Buffer.allocUnsafe(lenBytes + n + 4);
  let o = 0;
  let v = n;
  while (v >= 0x80) {
    out[o++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[o++] = v;
  out.set(message, o);
  out.writeUInt32LE(crc32(message), o + n);
  return out;
}

export type Varint = { value: number; size: number } | 'short' | 'bad';

/** A record's length at `o`: 'short' when the buffer ends inside it, 'bad' when more than 5 bytes. */
export function readVarint(buf: Uint8Array, o: number, end = buf.length): Varint {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (o + i >= end) return 'short';
    const b = buf[o + i]!;
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return { value, size: i + 1 };
  }
  return 'bad';
}
