"""MQTT ingestion (paho-mqtt 2.1; broker: Debian's mosquitto, scripts/mosquitto.sh).

Topic layout: ``carbonledger/<device id, 64 lowercase hex>/readings`` carrying the same JSON batch
as ``POST /v1/readings`` (``{"readings": [SignedReading.to_json(), ...]}``). Gateways publish
with QoS 1. Each node subscribes with its own persistent session (client id
``carbonledger-oracle-<name>``, clean session off), so messages published while it is down are
queued by the broker, and with manual acknowledgement: the PUBACK is sent only after the node's
SQL transaction holding the batch has committed. A node killed between commit and PUBACK gets the
message again (DUP) and the idempotent ingest answers ``duplicate``: redelivery never
double-counts. Per-reading results go to ``carbonledger/<device>/acks/<node>`` (QoS 1).
A payload that is not a JSON batch is acknowledged (a redelivery would not fix it) and
quarantined as ``malformed`` with the raw payload.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from oracles.node import OracleNode, SignedReading

log = logging.getLogger("carbonledger.mqtt")

TOPIC_PREFIX = "carbonledger"
#: Subscription of every node: all devices' readings.
READINGS_FILTER = f"{TOPIC_PREFIX}/+/readings"


#: Fault-drill hook (tests/test_oracle_network.py): when this environment variable names a file
#: that does not exist yet, the first readings message that stores new readings is ingested
#: (committed) and then, BEFORE its PUBACK, the node writes ``{"pid": ..., "mid": ..., "topic": ...}``
#: there and holds for ``HOLD_S`` seconds, so a drill can SIGKILL it at exactly that point and watch
#: the broker redeliver.
HOLD_ENV = "CARBONLEDGER_DRILL_HOLD_BEFORE_PUBACK"
HOLD_S = 120.0


def _drill_hold_point(msg: mqtt.MQTTMessage) -> None:
    """The :data:`HOLD_ENV` hook; does nothing unless the variable is set (drills only)."""
    path = os.environ.get(HOLD_ENV)
    if not path or os.path.exists(path):
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"pid": os.getpid(), "mid": msg.mid, "topic": msg.topic}, f)
    os.replace(tmp, path)
    log.warning("drill: holding %s s before the PUBACK of message %s (%s)", HOLD_S, msg.mid, HOLD_ENV)
    time.sleep(HOLD_S)


def readings_topic(device: bytes) -> str:
    """``carbonledger/<device hex>/readings``."""
    return f"{TOPIC_PREFIX}/{device.hex()}/readings"


def acks_topic(device_hex: str, node: str) -> str:
    """Where node ``node`` publishes per-reading results for a device."""
    return f"{TOPIC_PREFIX}/{device_hex}/acks/{node}"


def device_of_topic(topic: str) -> bytes | None:
    """The device id in a readings topic, or None if the topic is not one."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != TOPIC_PREFIX or parts[2] != "readings" or len(parts[1]) != 64:
        return None
    try:
        return bytes.fromhex(parts[1])
    except ValueError:
        return None


class MqttIngest:
    """Subscribes node ``node`` to every device's readings and ingests them (see module doc).

    Args:
        node: the oracle node (its ``ingest`` commits before returning).
        host, port: the broker.
    """

    def __init__(self, node: OracleNode, host: str, port: int, keepalive: int = 30) -> None:
        self.node, self.host, self.port = node, host, port
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"carbonledger-oracle-{node.name}",
                                  clean_session=False, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.keepalive = keepalive
        self.connected = threading.Event()
        self.messages = 0

    def start(self) -> MqttIngest:
        """Connect and start the network thread (reconnects by itself)."""
        self.client.connect(self.host, self.port, self.keepalive)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        """Disconnect cleanly (the broker keeps the session and queues for it)."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.error("%s: MQTT connection refused: %s", self.node.name, reason)
            return
        client.subscribe(READINGS_FILTER, qos=1)
        self.connected.set()

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        device = device_of_topic(msg.topic)
        try:
            body = json.loads(msg.payload)
            batch = [SignedReading.from_json(r) for r in body["readings"]]
            if device is None:
                raise ValueError(f"topic {msg.topic!r} is not {TOPIC_PREFIX}/<64 hex>/readings")
        except (ValueError, KeyError, TypeError) as exc:
            self.node.quarantine_raw(device or b"", "malformed", f"MQTT {msg.topic}: {exc}", msg.payload.decode("utf-8", "replace"))
            client.ack(msg.mid, msg.qos)
            return
        acks = self.node.ingest(batch, expect_device=device)      # commits before returning
        if msg.dup:
            log.info("%s: redelivered message %s: %s", self.node.name, msg.mid, dict(Counter(a.status for a in acks)))
        if any(a.status == "accepted" for a in acks):
            _drill_hold_point(msg)
        client.ack(msg.mid, msg.qos)                              # PUBACK only now
        self.messages += 1
        client.publish(acks_topic(device.hex(), self.node.name), json.dumps(
            [{"sequence": a.sequence, "status": a.status, "reason": a.reason} for a in acks]), qos=1)


def publish_readings(host: str, port: int, readings: Sequence[SignedReading], batch: int = 200,
                     client_id: str = "") -> int:
    """Gateway side: publish signed readings, grouped per device in batches of ``batch``, with
    QoS 1, and wait until the broker has acknowledged every message. Returns messages sent.

    Raises:
        RuntimeError: if the broker cannot be reached or a publish fails.
    """
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True if not client_id else False)
    c.max_inflight_messages_set(100)
    if c.connect(host, port, 30) != mqtt.MQTT_ERR_SUCCESS:
        raise RuntimeError(f"cannot reach the MQTT broker at {host}:{port}")
    c.loop_start()
    try:
        by_device: dict[bytes, list[SignedReading]] = {}
        for sr in readings:
            by_device.setdefault(sr.reading.device, []).append(sr)
        infos = []
        for device, rs in by_device.items():
            for lo in range(0, len(rs), batch):
                payload = json.dumps({"readings": [r.to_json() for r in rs[lo:lo + batch]]})
                infos.append(c.publish(readings_topic(device), payload, qos=1))
        for i in infos:
            i.wait_for_publish(timeout=60)
            if not i.is_published():
                raise RuntimeError(f"MQTT publish {i.mid} was not acknowledged by the broker")
        return len(infos)
    finally:
        c.disconnect()
        c.loop_stop()

