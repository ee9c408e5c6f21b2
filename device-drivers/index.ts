/** The only import surface of `device-drivers/` for the other folders. */
export * from './driver.ts';
export * from './errors.ts';
export * from './readings.ts';
export * from './metrics.ts';
export * from './profiles/schema.ts';
export * from './profiles/load.ts';
export { createDriver, type DeviceSpec, type Connection } from './factory.ts';

export { ModbusDriver, modbusDriverConfigSchema, type ModbusDriverConfig } from './modbus/driver.ts';
export { ModbusTcpClient } from './modbus/tcp-client.ts';
export { ModbusRtuClient, type RtuSettings } from './modbus/rtu-client.ts';
export type { ModbusTransport, TransportCounters } from './modbus/transport.ts';
export { planReads, decodeRaw, encodeValue, type ReadBlock } from './modbus/registers.ts';
export * as modbusPdu from './modbus/pdu.ts';

export { Hl7Driver, hl7DriverConfigSchema, type Hl7DriverConfig } from './hl7/driver.ts';
export { startMllpServer, singleProfileResolver, MLLP_COUNTER_NAMES, type MllpServer, type MllpServerOptions, type MllpCounters, type ResolvedDevice } from './hl7/server.ts';
export { parseMessage, parseHl7Time, Hl7ParseError, type Hl7Message, type Segment, type Delimiters } from './hl7/message.ts';
export { oruToReadings, type OruResult } from './hl7/oru.ts';
export { buildAck, parseAck, type AckCode } from './hl7/ack.ts';
export { buildOru, type OruOptions, type OruObservation } from './hl7/build.ts';
export { MllpFramer, toBuffer as mllpFrame, fromBuffer as mllpUnframe, type FramerEvent } from './hl7/mllp.ts';

export { AstmDriver, astmDriverConfigSchema, type AstmDriverConfig } from './astm/driver.ts';
export { startAstmServer, attachAstmReceiver, newLinkState, type AstmServer, type AstmLinkOptions, type AstmLinkState } from './astm/server.ts';
export { AstmReceiver, ASTM_COUNTER_NAMES, type AstmCounters } from './astm/receiver.ts';
export { sendAstmMessage, AstmSendError, type ByteLink } from './astm/sender.ts';
export { astmToReadings, decodeAstmText, type AstmResultSet } from './astm/results.ts';
export { parseRecords, AstmParseError, type AstmRecord } from './astm/records.ts';
export { openSerialPort, closeSerialPort, type SerialSettings } from './astm/serial.ts';

export { startModbusSimulator, type ModbusSimulator, type ModbusSimulatorOptions } from './simulators/modbus-sim.ts';
export { startHl7Simulator, MllpClient, simulatedOru, type Hl7Simulator, type Hl7SimulatorOptions } from './simulators/hl7-sender.ts';
export { startAstmSimulator, buildAstmMessage, simulatedAstm, type AstmSimulator, type AstmSimulatorOptions } from './simulators/astm-sender.ts';
export { generateValue, rng, type ValueMix } from './simulators/values.ts';
export { startSimulator, type SimulatorOptions, type RunningSimulator } from './simulators/index.ts';

// DICOM: SCP (C-ECHO, C-STORE, worklist), C-ECHO SCU, order matching.
export * from './dicom/index.ts';
