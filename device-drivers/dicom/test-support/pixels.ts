/** Generated pixel data for tests of decoding and transcoding (little endian). */

/** 12-bit values in 16-bit samples, a repeating ramp. */
export function mono16(rows: number, cols: number): Buffer {
  const b = Buffer.alloc(rows * cols * 2);
  for (let i = 0; i < rows * cols; i++) b.writeUInt16LE((i * 13) % 4096, i * 2);
  return b;
}

/** RGB by pixel: red along x, green along y, blue constant (what JPEG baseline keeps well). */
export function rgb8(rows: number, cols: number): Buffer {
  const b = Buffer.alloc(rows * cols * 3);
  for (let y = 0; y < rows; y++) for (let x = 0; x < cols; x++) {
    const o = (y * cols + x) * 3;
    b[o] = x * 2; b[o + 1] = y * 2; b[o + 2] = 128;
  }
  return b;
}
