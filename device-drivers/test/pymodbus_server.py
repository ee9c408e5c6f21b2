"""A pymodbus device for tests: TCP (--port) or RTU on a serial line (--serial).

Holding registers 0..: the bp-monitor map (systolic, diastolic, pulse); input registers 0..:
thermometer (int16, 0.01 degC). Values are given on the command line so the test knows them.
"""
import argparse
import logging

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartSerialServer, StartTcpServer
from pymodbus.transaction import ModbusRtuFramer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int)
parser.add_argument("--serial")
parser.add_argument("--unit", type=int, default=1)
parser.add_argument("--hr", default="128,84,72")
parser.add_argument("--ir", default="3680")
args = parser.parse_args()
logging.basicConfig(level=logging.ERROR)

hr = [int(x) for x in args.hr.split(",")] + [0] * 200
ir = [int(x) & 0xFFFF for x in args.ir.split(",")] + [0] * 200
slave = ModbusSlaveContext(
    di=ModbusSequentialDataBlock(0, [0] * 100),
    co=ModbusSequentialDataBlock(0, [0] * 100),
    hr=ModbusSequentialDataBlock(0, hr),
    ir=ModbusSequentialDataBlock(0, ir),
    zero_mode=True,
)
context = ModbusServerContext(slaves={args.unit: slave}, single=False)
print("starting", flush=True)
if args.serial:
    StartSerialServer(context=context, framer=ModbusRtuFramer, port=args.serial, baudrate=19200, timeout=0.05)
else:
    StartTcpServer(context=context, address=("127.0.0.1", args.port))
