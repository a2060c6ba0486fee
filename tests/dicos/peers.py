"""Test-side peers: pynetdicom SCU helpers, including deliberately malformed C-STOREs."""

from __future__ import annotations

import socket
import time
from io import BytesIO
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode
from pynetdicom.pdu import P_DATA_TF

EXPLICIT = "1.2.840.10008.1.2.1"


def associate(
    port: int,
    contexts: list[str],
    *,
    ae_title: str = "TESTSCU",
    called: str = "BACKSCATTER",
    syntax: str = EXPLICIT,
    **kw: Any,
) -> Any:
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    for uid in contexts:
        ae.add_requested_context(uid, syntax)
    return ae.associate("127.0.0.1", port, ae_title=called, **kw)


def _request(sop_class: str, instance_uid: str, payload: bytes) -> C_STORE:
    req = C_STORE()
    req.MessageID = 1
    req.AffectedSOPClassUID = sop_class
    req.AffectedSOPInstanceUID = instance_uid
    req.Priority = 2
    req.DataSet = BytesIO(payload)
    return req


def encoded(ds: Dataset) -> bytes:
    data = encode(ds, False, True)
    assert data is not None
    return data


def raw_c_store(assoc: Any, payload: bytes, sop_class: str, instance_uid: str) -> Dataset:
    """Send a C-STORE whose dataset bytes we chose ourselves; returns the response status."""
    context = next(c for c in assoc.accepted_contexts if c.abstract_syntax == sop_class)
    assoc._reactor_checkpoint.clear()
    while not assoc._is_paused:
        time.sleep(0.0001)
    try:
        assoc.dimse.send_msg(_request(sop_class, instance_uid, payload), context.context_id)
        _, rsp = assoc.dimse.get_msg(block=True)
    finally:
        assoc._reactor_checkpoint.set()
    status = Dataset()
    status.Status = rsp.Status
    if rsp.ErrorComment:
        status.ErrorComment = rsp.ErrorComment
    return status


def disconnect_mid_store(assoc: Any, payload: bytes, sop_class: str, instance_uid: str) -> None:
    """Send the command and only the first P-DATA PDUs of the dataset, then drop the TCP link."""
    context = next(c for c in assoc.accepted_contexts if c.abstract_syntax == sop_class)
    msg = C_STORE_RQ()
    msg.primitive_to_message(_request(sop_class, instance_uid, payload))
    pdus = list(msg.encode_msg(context.context_id, 4096))
    assert len(pdus) > 4
    sock: socket.socket = assoc.dul.socket.socket
    assoc._reactor_checkpoint.clear()
    while not assoc._is_paused:
        time.sleep(0.0001)
    for primitive in pdus[: len(pdus) // 2]:
        pdu = P_DATA_TF()
        pdu.from_primitive(primitive)
        sock.sendall(pdu.encode())
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    assoc._reactor_checkpoint.set()


def truncated_associate_request(port: int) -> None:
    """Open TCP, send the first bytes of an A-ASSOCIATE-RQ announcing 300 bytes, then close."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"\x01\x00\x00\x00\x01\x2c\x00\x01\x00\x00BACKSCATTER")
        time.sleep(0.2)
