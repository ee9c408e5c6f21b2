/** Every driver passes the same contract suite against a live peer. */
import t from 'tap';
import { runDriverContract } from './contract.ts';
import { builtinProfile } from './profiles/load.ts';
import type { AstmProfile, Hl7Profile, ModbusProfile } from './profiles/schema.ts';
import { ModbusDriver } from './modbus/driver.ts';
import { Hl7Driver } from './hl7/driver.ts';
import { AstmDriver } from './astm/driver.ts';
import { startModbusSimulator } from './simulators/modbus-sim.ts';
import { MllpClient, simulatedOru } from './simulators/hl7-sender.ts';
import { buildAstmMessage, simulatedAstm, socketLink } from './simulators/astm-sender.ts';
import { sendAstmMessage } from './astm/sender.ts';
import { openSerialPort, closeSerialPort } from './astm/serial.ts';
import { rng } from './simulators/values.ts';
import { ptyPair } from './test/socat.ts';
import { connect } from 'node:net';

for (const id of ['bp-monitor', 'glucose-meter', 'pulse-oximeter', 'height-weight-scale', 'thermometer']) {
  runDriverContract(t, `modbus ${id}`, async () => {
    const profile = builtinProfile(id) as ModbusProfile;
    const sim = await startModbusSimulator({ profile, seed: 11, updateMs: 50 });
    const driver = new ModbusDriver({ deviceId: `${id}-1`, profile, transport: { type: 'tcp', host: '127.0.0.1', port: sim.port }, pollIntervalMs: 25 });
    return { driver, produce: async () => undefined, cleanup: async () => { await driver.stop(); await sim.stop(); } };
  });
}

runDriverContract(t, 'hl7 bedside monitor', async () => {
  const profile = builtinProfile('bedside-monitor-hl7') as Hl7Profile;
  const driver = new Hl7Driver({ profile });
  const r = rng(3);
  let client: MllpClient | undefined;
  return {
    driver,
    // the monitor re-sends a message that got AE, as real monitors do
    produce: async () => {
      client ??= await MllpClient.open('127.0.0.1', driver.port);
      const m = simulatedOru(profile, r, { charset: 'GB18030' });
      for (let i = 0; i < 3; i++) if ((await client.send(m.message)).code === 'AA') return;
    },
    cleanup: async () => { client?.close(); await driver.stop(); },
  };
});

for (const id of ['biochemistry-analyser', 'haematology-analyser']) {
  runDriverContract(t, `astm ${id} over tcp`, async () => {
    const profile = builtinProfile(id) as AstmProfile;
    const driver = new AstmDriver({ profile, transport: { type: 'tcp', host: '127.0.0.1', port: 0 } });
    const r = rng(5);
    return {
      driver,
      produce: async () => {
        const s = connect(driver.port, '127.0.0.1');
        await new Promise((res) => s.once('connect', res));
        const m = simulatedAstm(profile, r);
        // a NAKed (not stored) final frame is retransmitted by the sender itself
        await sendAstmMessage(socketLink(s), buildAstmMessage('ANALYSER', m.sample), { replyTimeoutMs: 3000 });
        s.destroy();
      },
      cleanup: () => driver.stop(),
    };
  });
}

runDriverContract(t, 'astm over a serial port (pty)', async () => {
  const profile = builtinProfile('biochemistry-analyser') as AstmProfile;
  const pty = await ptyPair();
  const driver = new AstmDriver({ profile, transport: { type: 'serial', path: pty.a, baudRate: 38400 } });
  const port = await openSerialPort({ path: pty.b, baudRate: 38400 });
  const r = rng(9);
  return {
    driver,
    produce: async () => {
      const m = simulatedAstm(profile, r);
      await sendAstmMessage({ write: (b) => port.write(b), on: (e, f) => port.on(e, f), off: (e, f) => port.off(e, f) }, buildAstmMessage('SERIAL', m.sample), { replyTimeoutMs: 3000 });
    },
    cleanup: async () => { await driver.stop(); await closeSerialPort(port); await pty.close(); },
  };
});
