"""HL7 peer for tests: builds ORU^R01 messages with python-hl7 (Debian python3-hl7), sends
them over MLLP with its MLLPClient, parses each ACK with hl7.parse and prints one JSON line
per message: {"controlId", "ack", "text"}.

usage: hl7_peer.py PORT ENCODING COUNT
"""
import json
import sys

import hl7
from hl7.client import MLLPClient

port, encoding, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
charset = "GB18030" if encoding.lower() == "gb18030" else "UNICODE UTF-8"

with MLLPClient("127.0.0.1", port, encoding=encoding) as client:
    for i in range(count):
        cid = "PY%04d" % i
        segs = [
            "MSH|^~\\&|PYMON|ICU|EDGE|CLINIC|20240501101500+0800||ORU^R01^ORU_R01|%s|P|2.5||||||%s" % (cid, charset),
            "PID|1||330100199001011234^^^HOSP^MR||王^小明||19900101|M",
            "OBR|1|||VITALS|||20240501101500+0800",
            "OBX|1|NM|8867-4^Heart rate^LN||%d|/min|60-100|N|||F|||20240501101500+0800" % (70 + i),
            "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||97|%|95-100|N|||F",
            "OBX|3|NM|8310-5^Body temperature^LN||36.6|Cel||N|||F",
        ]
        # python-hl7 builds and validates the message structure before we send it
        msg = hl7.parse("\r".join(segs))
        assert str(msg.segment("MSH")[10]) == cid
        ack_text = client.send_message(str(msg))
        if isinstance(ack_text, bytes):
            ack_text = ack_text.decode(encoding)
        ack = hl7.parse(ack_text.strip("\x0b\x1c\r"))
        msa = ack.segment("MSA")
        print(json.dumps({"controlId": str(msa[2]), "ack": str(msa[1]), "text": str(msa[3]) if len(msa) > 3 else ""}, ensure_ascii=False), flush=True)
