"""rosbag2 (sqlite3 and mcap) reading and writing through ``rosbags``, no ROS install.

* ``BagReader`` opens a bag folder (or a bare ``.mcap`` / ``.db3`` file, or a ROS 1
  ``.bag``), lists its topics, selects a topic by allowed message types and yields
  messages; every rosbags failure becomes a ``BagError`` that names the file.
* ``BagWriter`` writes messages built from ``typestore()`` classes (ROS 2 Jazzy types
  plus our ``anchor_reloc_ros/msg/AnchorDebug``, registered from its ``.msg`` text so
  its type hash equals the one rosidl generates).
* Message stamps: ``header_stamp_ns`` takes ``header.stamp`` and falls back to the bag
  receive time when the stamp is zero (drivers that never fill it in).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Connection, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import ReaderError, StoragePlugin, Writer, WriterError
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from ..core.errors import AnchorRelocError

ANCHOR_DEBUG_TYPE = "anchor_reloc_ros/msg/AnchorDebug"
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
BAG_VERSION = 9  # rosbag2 metadata version written by Jazzy


class BagError(AnchorRelocError):
    """A bag is missing, corrupt or unreadable, or cannot be written."""


class BagTopicError(BagError):
    """A requested topic is absent from the bag or carries the wrong message type."""


class MalformedMessageError(BagError):
    """One message's bytes do not deserialize as its declared type."""


# ----------------------------------------------------------------------- types
def _anchor_debug_msg_file() -> Path:
    """``msg/AnchorDebug.msg`` from the source tree or an installed share directory."""
    candidates = [Path(__file__).resolve().parents[2] / "msg" / "AnchorDebug.msg"]
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    candidates += [Path(p) / "share" / "anchor_reloc_ros" / "msg" / "AnchorDebug.msg"
                   for p in (*prefixes, sys.prefix)]
    for path in candidates:
        if path.is_file():
            return path
    raise BagError("cannot find AnchorDebug.msg (looked in: "
                   f"{', '.join(str(p) for p in candidates)})")


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """ROS 2 Jazzy message types plus ``anchor_reloc_ros/msg/AnchorDebug``."""
    store = get_typestore(Stores.ROS2_JAZZY)
    text = _anchor_debug_msg_file().read_text(encoding="utf-8")
    store.register(get_types_from_msg(text, ANCHOR_DEBUG_TYPE))
    return store


def msg_class(msgtype: str) -> Any:
    """The rosbags dataclass for a full type name such as ``geometry_msgs/msg/Pose``."""
    return typestore().types[msgtype]


def time_msg(stamp_ns: int) -> Any:
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return msg_class("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec)


def header_msg(stamp_ns: int, frame_id: str) -> Any:
    return msg_class("std_msgs/msg/Header")(stamp=time_msg(stamp_ns), frame_id=frame_id)


def stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def header_stamp_ns(msg: Any, bag_time_ns: int) -> int:
    """``msg.header.stamp`` in ns, or the bag receive time when the stamp is zero."""
    value = stamp_ns(msg.header.stamp)
    return value if value != 0 else int(bag_time_ns)


# ---------------------------------------------------------------------- reading
def short_type(msgtype: str) -> str:
    """``sensor_msgs/msg/Image`` -> ``sensor_msgs/Image`` (for messages to people)."""
    return msgtype.replace("/msg/", "/")


class BagReader:
    """An open bag. Use as a context manager: ``with BagReader(path) as bag: ...``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        self._reader: AnyReader | None = None

    def __enter__(self) -> "BagReader":
        if not self.path.exists():
            raise BagError(f"bag not found: {self.path}")
        try:
            self._reader = AnyReader([self.path], default_typestore=typestore())
            self._reader.open()
        except (AnyReaderError, ReaderError, FileNotFoundError, OSError) as exc:
            raise BagError(f"cannot read bag {self.path}: {exc}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def reader(self) -> AnyReader:
        if self._reader is None:
            raise BagError(f"bag {self.path} is not open")
        return self._reader

    @property
    def is_ros1(self) -> bool:
        """A ROS 1 ``.bag``: its raw messages are ROS 1 serialized, not CDR."""
        return not self.reader.is2

    def topics(self) -> dict[str, str]:
        """``{topic: message type}`` for every topic in the bag."""
        return {name: info.msgtype or "?" for name, info in sorted(self.reader.topics.items())}

    def describe_topics(self) -> str:
        listed = [f"{name} ({short_type(t)})" for name, t in self.topics().items()]
        return ", ".join(listed) or "no topics"

    def connections(self, topic: str, allowed_types: Sequence[str], what: str) -> list[Connection]:
        """Connections of ``topic``; ``BagTopicError`` listing the bag's topics if the
        topic is absent or none of its connections has an allowed type."""
        conns = [c for c in self.reader.connections if c.topic == topic]
        if not conns:
            raise BagTopicError(f"{what} topic {topic!r} is not in bag {self.path}; "
                                f"the bag has: {self.describe_topics()}")
        ok = [c for c in conns if c.msgtype in allowed_types]
        if not ok:
            found = ", ".join(sorted({short_type(c.msgtype) for c in conns}))
            expected = ", ".join(short_type(t) for t in allowed_types)
            raise BagTopicError(f"{what} topic {topic!r} in bag {self.path} has type {found}, "
                                f"expected {expected}; the bag has: {self.describe_topics()}")
        return ok

    def messages(self, connections: Sequence[Connection]) -> Iterator[tuple[Connection, int, bytes]]:
        """``(connection, bag receive time ns, raw CDR)`` in bag order."""
        try:
            yield from self.reader.messages(connections=connections)
        except (AnyReaderError, ReaderError, OSError, ValueError) as exc:
            raise BagError(f"bag {self.path} is corrupt or truncated: {exc}") from exc

    def deserialize(self, raw: bytes, msgtype: str) -> Any:
        """``MalformedMessageError`` for a message that does not parse (callers count and skip it)."""
        try:
            return self.reader.deserialize(raw, msgtype)
        except (AnyReaderError, SerdeError, ValueError, IndexError) as exc:
            raise MalformedMessageError(f"malformed {short_type(msgtype)}: {exc}") from exc


DESERIALIZE_ERRORS: tuple[type[Exception], ...] = (MalformedMessageError,)


# ---------------------------------------------------------------------- writing
def _qos(durability: QosDurability, depth: int = 10) -> Qos:
    never = QosTime(sec=0, nsec=0)
    return Qos(QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE, durability, never, never,
               QosLiveliness.AUTOMATIC, never, False)


LATCHED_QOS = _qos(QosDurability.TRANSIENT_LOCAL, depth=1)  # /tf_static and the like


class BagWriter:
    """Writes a new rosbag2 (mcap by default). ``with BagWriter(path) as w: w.write(...)``."""

    def __init__(self, path: Path | str, storage: str = "mcap") -> None:
        if storage not in STORAGES:
            raise BagError(f"unknown bag storage {storage!r}; use one of {', '.join(STORAGES)}")
        self.path = Path(path).expanduser()
        if self.path.exists():
            raise BagError(f"output bag already exists: {self.path}")
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        self._connections: dict[str, Connection] = {}

    def __enter__(self) -> "BagWriter":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer.open()
        except (WriterError, OSError) as exc:
            raise BagError(f"cannot write bag {self.path}: {exc}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def add_topic(self, topic: str, msgtype: str, latched: bool = False) -> None:
        qos = [LATCHED_QOS] if latched else []
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=typestore(), offered_qos_profiles=qos)

    def write(self, topic: str, bag_time_ns: int, msg: Any) -> None:
        """Serialize ``msg`` (a ``msg_class`` instance) onto a topic added before."""
        conn = self._connections[topic]
        self.write_raw(topic, bag_time_ns, typestore().serialize_cdr(msg, conn.msgtype))

    def write_raw(self, topic: str, bag_time_ns: int, raw: bytes | memoryview) -> None:
        self._writer.write(self._connections[topic], int(bag_time_ns), raw)
