/** Serial-port transport for ASTM analysers (and the pty pairs used in tests). */
import { SerialPort } from 'serialport';

export interface SerialSettings {
  path: string;
  baudRate?: number;
  dataBits?: 7 | 8;
  parity?: 'none' | 'even' | 'odd';
  stopBits?: 1 | 2;
}

/** Open a serial port; resolves when open. The caller owns closing it. */
export function openSerialPort(s: SerialSettings): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path: s.path, baudRate: s.baudRate ?? 9600, dataBits: s.dataBits ?? 8, parity: s.parity ?? 'none', stopBits: s.stopBits ?? 1, autoOpen: false });
    port.open((err) => (err ? reject(err) : resolve(port)));
  });
}

export function closeSerialPort(p: SerialPort): Promise<void> {
  return new Promise((resolve) => { if (!p.isOpen) { resolve(); return; } p.close(() => resolve()); });
}
