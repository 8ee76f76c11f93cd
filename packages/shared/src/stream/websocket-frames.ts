// Server-to-client WebSocket text frames (RFC 6455 §5.2: FIN set, opcode 1, unmasked), encoded by
// the hub rather than by the transport so that one feed batch is framed ONCE and the same bytes
// are written to every subscriber that takes the whole batch, in one write each. At 500
// subscribers × 2,000 events/s, a write per event (what a WebSocket library's send() does) is a
// million syscalls a second; a write per batch is a few thousand.

const FIN_TEXT = 0x81;

/** Concatenated frames, one per message, in order: ready for a single socket write. */
export function encodeTextFrames(messages: readonly Buffer[]): Buffer {
  let size = 0;
  for (const message of messages) size += headerLength(message.length) + message.length;
  const frames = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const message of messages) {
    offset = writeHeader(frames, offset, message.length);
    offset += message.copy(frames, offset);
  }
  return frames;
}

function headerLength(payloadLength: number): number {
  if (payloadLength < 126) return 2;
  return payloadLength < 65_536 ? 4 : 10;
}

function writeHeader(frames: Buffer, offset: number, payloadLength: number): number {
  frames[offset] = FIN_TEXT;
  if (payloadLength < 126) {
    frames[offset + 1] = payloadLength;
    return offset + 2;
  }
  if (payloadLength < 65_536) {
    frames[offset + 1] = 126;
    frames.writeUInt16BE(payloadLength, offset + 2);
    return offset + 4;
  }
  frames[offset + 1] = 127;
  frames.writeBigUInt64BE(BigInt(payloadLength), offset + 2);
  return offset + 10;
}
