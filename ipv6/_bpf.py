"""eBPF through the ``bpf()`` system call, from ctypes: maps made and read,
programs loaded (with the verifier's words when it refuses one), and
``BPF_PROG_TEST_RUN``, which runs a program on a packet buffer without any
network. The objects are :mod:`._bpfelf`'s.

A :class:`Loaded` object owns its descriptors: closing it closes them; what the
kernel attached keeps its own references. Attaching a program to a device is a
kernel operation (``_kernelops.AttachTcProgram``), which ``_netlink`` carries out.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ._bpfelf import BpfObject, BpfObjectError, MapDef, link, read_object
from ._errors import Ipv6Error

_SYSCALL_NUMBERS = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351}
MAP_CREATE, MAP_LOOKUP, MAP_UPDATE, MAP_DELETE, MAP_NEXT_KEY, PROG_LOAD = 0, 1, 2, 3, 4, 5
PROG_TEST_RUN, PROG_QUERY, MAP_LOOKUP_BATCH, LINK_CREATE = 10, 16, 24, 28
BATCH = 4096  # entries a batched lookup asks for at a time
TCX_INGRESS, TCX_EGRESS = 46, 47  # attach types of tcx (Linux 6.6): a link per program
PROG_TYPE_SOCKET_FILTER, PROG_TYPE_SCHED_CLS = 1, 3
MAP_TYPE_PERCPU_ARRAY = 6
MAP_TYPE_PERCPU_HASH = 5
LOG_SIZE = 1 << 20
SK_BUFF_SIZE = 192  # struct __sk_buff, as BPF_PROG_TEST_RUN takes it
ATTR_SIZE = 128

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class BpfError(Ipv6Error):
    """The kernel refused an eBPF operation (``verifier`` holds its log, if any)."""

    def __init__(self, message: str, code: int = 0, verifier: str = "") -> None:
        super().__init__(message)
        self.errno = code
        self.verifier = verifier

    @property
    def reason(self) -> str:
        """Why, in one line: the verifier's last word (where it stopped), or the error."""
        lines = [line for line in self.verifier.splitlines() if line.strip()]
        return lines[-1] if lines else (os.strerror(self.errno) if self.errno else str(self))


def why_not(exc: Exception) -> str:
    """Why a program is not running, in a line, from what loading or attaching it
    raised (BpfError, BpfObjectError or OSError)."""
    if isinstance(exc, BpfError):
        return f"the kernel refused the program: {exc.reason}"
    if isinstance(exc, OSError):
        return f"the program could not be attached: {exc.strerror or exc}"
    return str(exc)


def _call(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    number = _SYSCALL_NUMBERS.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, f"no bpf system call number known for {platform.machine()}")
    result = _libc.syscall(number, cmd, attr, ATTR_SIZE)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return int(result)


def _attr(*fields: tuple[int, str, int]) -> ctypes.Array[ctypes.c_char]:
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    for offset, fmt, value in fields:
        struct.pack_into("<" + fmt, attr, offset, value)
    return attr


def _address(buffer: ctypes.Array[ctypes.c_char]) -> int:
    return ctypes.addressof(buffer)


def possible_cpus() -> int:
    """How many CPUs a per-CPU map holds a value for (/sys's "possible" list)."""
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    count = 0
    for part in text.split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


@dataclass
class Map:
    """A map the kernel made: its file descriptor and what it holds."""

    definition: MapDef
    fd: int

    @property
    def per_cpu(self) -> bool:
        return self.definition.type in (MAP_TYPE_PERCPU_ARRAY, MAP_TYPE_PERCPU_HASH)

    @property
    def value_bytes(self) -> int:
        """How many bytes a value is, as lookup gives it and update takes it."""
        return self._value_size()

    def _value_size(self) -> int:
        size = self.definition.value_size
        return ((size + 7) // 8 * 8) * possible_cpus() if self.per_cpu else size

    def _key(self, key: bytes) -> ctypes.Array[ctypes.c_char]:
        if len(key) != self.definition.key_size:
            raise ValueError(f"{self.definition.name}: a key is {self.definition.key_size} bytes")
        return ctypes.create_string_buffer(key, len(key))

    def lookup(self, key: bytes) -> bytes | None:
        """The value (per CPU: each CPU's, 8-byte aligned, one after another), or None."""
        k = self._key(key)
        value = ctypes.create_string_buffer(self._value_size())
        attr = _attr((0, "I", self.fd), (8, "Q", _address(k)), (16, "Q", _address(value)))
        try:
            _call(MAP_LOOKUP, attr)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise
        return value.raw

    def update(self, key: bytes, value: bytes) -> None:
        """Set a key's value (a per-CPU map takes every CPU's, as lookup gives them)."""
        if len(value) != self._value_size():
            raise ValueError(f"{self.definition.name}: a value is {self._value_size()} bytes")
        k, v = self._key(key), ctypes.create_string_buffer(value, len(value))
        _call(MAP_UPDATE, _attr((0, "I", self.fd), (8, "Q", _address(k)), (16, "Q", _address(v))))

    def delete(self, key: bytes) -> bool:
        """Remove a key; False if it was not there."""
        k = self._key(key)
        try:
            _call(MAP_DELETE, _attr((0, "I", self.fd), (8, "Q", _address(k))))
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise
        return True

    def keys(self) -> list[bytes]:
        """Every key, as the kernel walks them."""
        size = self.definition.key_size
        out: list[bytes] = []
        current = None
        following = ctypes.create_string_buffer(size)
        while True:
            fields = [(0, "I", self.fd), (16, "Q", _address(following))]
            if current is not None:
                fields.append((8, "Q", _address(current)))
            try:
                _call(MAP_NEXT_KEY, _attr(*fields))
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return out
                raise
            out.append(following.raw)
            current = ctypes.create_string_buffer(following.raw, size)

    def items(self) -> dict[bytes, bytes]:
        """Every key with its value, read with BPF_MAP_LOOKUP_BATCH: a system call
        per 4,096 entries where :meth:`keys` and :meth:`lookup` take two per entry.
        A hash map changed while it is read may be read in part (as with keys)."""
        size, value_size = self.definition.key_size, self._value_size()
        keys = ctypes.create_string_buffer(size * BATCH)
        values = ctypes.create_string_buffer(value_size * BATCH)
        token_in, token_out = ctypes.create_string_buffer(8), ctypes.create_string_buffer(8)
        out: dict[bytes, bytes] = {}
        first = True
        while True:
            attr = _attr(
                (0, "Q", 0 if first else _address(token_in)), (8, "Q", _address(token_out)),
                (16, "Q", _address(keys)), (24, "Q", _address(values)), (32, "I", BATCH),
                (36, "I", self.fd),
            )  # fmt: skip
            done = False
            try:
                _call(MAP_LOOKUP_BATCH, attr)
            except OSError as exc:
                if exc.errno != errno.ENOENT:  # ENOENT: the last batch (maybe empty)
                    raise
                done = True
            (count,) = struct.unpack_from("<I", attr, 32)
            raw_keys, raw_values = keys.raw, values.raw
            for n in range(count):
                key = raw_keys[n * size : (n + 1) * size]
                out[key] = raw_values[n * value_size : (n + 1) * value_size]
            if done:
                return out
            ctypes.memmove(token_in, token_out, 8)
            first = False

    def clear(self) -> None:
        for key in self.keys():
            self.delete(key)

    def sum_per_cpu(self, key: bytes) -> int:
        """A per-CPU map's 64-bit counter at ``key``, summed over the CPUs."""
        raw = self.lookup(key) or b""
        return sum(value for (value,) in struct.iter_unpack("<Q", raw))


@dataclass(frozen=True)
class TestRun:
    """What ``BPF_PROG_TEST_RUN`` gave: the program's return value and the packet."""

    retval: int
    data: bytes
    duration_ns: int


@dataclass
class Loaded:
    """An object's maps and programs, loaded."""

    maps: dict[str, Map] = field(default_factory=dict)
    programs: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        for fd in [*self.programs.values(), *(m.fd for m in self.maps.values())]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.programs.clear()
        self.maps.clear()

    def test_run(
        self,
        section: str,
        packet: bytes,
        *,
        repeat: int = 1,
        gso: tuple[int, int] | None = None,
        ifindex: int = 0,
    ) -> TestRun:
        """Run a program on ``packet`` (an Ethernet frame; a socket filter sees it
        from its network header on) without any network; ``gso``: (segments,
        segment size) the packet says it will be cut into; ``ifindex``: the
        interface (of this namespace) it arrived on, whose device a program's
        redirect really sends from."""  # fmt: skip
        data_in = ctypes.create_string_buffer(packet, len(packet))
        data_out = ctypes.create_string_buffer(len(packet) + 256)
        fields = [
            (0, "I", self.programs[section]), (8, "I", len(packet)),
            (12, "I", len(data_out)), (16, "Q", _address(data_in)),
            (24, "Q", _address(data_out)), (32, "I", repeat),
        ]  # fmt: skip
        ctx = ctypes.create_string_buffer(SK_BUFF_SIZE)
        if gso is not None:  # struct __sk_buff's gso_segs and gso_size
            struct.pack_into("<I", ctx, 164, gso[0])
            struct.pack_into("<I", ctx, 176, gso[1])
        if ifindex:
            struct.pack_into("<I", ctx, 40, ifindex)  # struct __sk_buff's ifindex
        if gso is not None or ifindex:
            fields += [(40, "I", SK_BUFF_SIZE), (48, "Q", _address(ctx))]
        attr = _attr(*fields)
        try:
            _call(PROG_TEST_RUN, attr)
        except OSError as exc:
            raise BpfError(f"test run of {section}: {exc.strerror}", exc.errno or 0) from None
        retval, _size_in, size_out = struct.unpack_from("<III", attr, 4)
        (duration,) = struct.unpack_from("<I", attr, 36)
        return TestRun(retval, data_out.raw[:size_out], duration)


def link_tcx(program: int, ifindex: int, *, egress: bool) -> int:
    """Program ``program`` on interface ``ifindex``'s tcx hook, as a link: its file
    descriptor, and the program stays exactly as long as it is open (the process
    that holds it killed, the program goes). OSError where the kernel has no tcx
    (before Linux 6.6: EINVAL) or refuses."""
    kind = TCX_EGRESS if egress else TCX_INGRESS
    return _call(LINK_CREATE, _attr((0, "I", program), (4, "I", ifindex), (8, "I", kind)))


def tcx_programs(ifindex: int, *, egress: bool) -> int:
    """How many programs interface ``ifindex``'s tcx hook runs."""
    kind = TCX_EGRESS if egress else TCX_INGRESS
    attr = _attr((0, "I", ifindex), (4, "I", kind))
    _call(PROG_QUERY, attr)
    return int(struct.unpack_from("<I", attr, 24)[0])


def load(path: Path | str, sections: list[str], *, prog_type: int = PROG_TYPE_SCHED_CLS) -> Loaded:
    """Make the object's maps and load ``sections`` with them: BpfError (with the
    verifier's log) when the kernel refuses; BpfObjectError when the file is wrong."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BpfObjectError(f"cannot read {path}: {exc.strerror}") from None
    try:
        obj = read_object(data)
    except BpfObjectError as exc:
        raise BpfObjectError(f"{path}: {exc}") from None
    return load_object(obj, sections, prog_type=prog_type)


def load_object(obj: BpfObject, sections: list[str], *, prog_type: int) -> Loaded:
    missing = [s for s in sections if s not in obj.programs]
    if missing:
        raise BpfObjectError(f"the object has no program {missing[0]!r}")
    loaded = Loaded()
    try:
        for name, definition in obj.maps.items():
            attr = _attr(
                (0, "I", definition.type), (4, "I", definition.key_size),
                (8, "I", definition.value_size), (12, "I", definition.max_entries),
                (16, "I", definition.flags),
            )  # fmt: skip
            struct.pack_into("15s", attr, 28, name.encode()[:15])
            try:
                fd = _call(MAP_CREATE, attr)
            except OSError as exc:
                raise BpfError(f"cannot make map {name}: {exc.strerror}", exc.errno or 0) from None
            loaded.maps[name] = Map(definition, fd)
        fds = {name: m.fd for name, m in loaded.maps.items()}
        for section in sections:
            name = section.replace("/", "_")
            # A "socket/..." section is a socket filter (SO_ATTACH_BPF), as libbpf names it.
            kind = PROG_TYPE_SOCKET_FILTER if section.startswith("socket") else prog_type
            loaded.programs[section] = load_program(
                link(obj.programs[section], fds), obj.license, name, kind
            )
    except BaseException:
        loaded.close()
        raise
    return loaded


def load_program(instructions: bytes, license_text: str, name: str, prog_type: int) -> int:
    """Load linked instructions: the program's descriptor, or BpfError with the
    verifier's log."""
    insns = ctypes.create_string_buffer(instructions, len(instructions))
    license_buf = ctypes.create_string_buffer(license_text.encode())
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr = _attr(
        (0, "I", prog_type), (4, "I", len(instructions) // 8), (8, "Q", _address(insns)),
        (16, "Q", _address(license_buf)), (24, "I", 1), (28, "I", LOG_SIZE),
        (32, "Q", _address(log)),
    )  # fmt: skip
    struct.pack_into("15s", attr, 48, name.encode()[:15])
    try:
        return _call(PROG_LOAD, attr)
    except OSError as exc:
        text = log.value.decode("utf-8", "replace")
        lines = [line for line in text.splitlines() if line.strip()]
        why = lines[-1] if lines else exc.strerror
        raise BpfError(f"the kernel refused {name}: {why}", exc.errno or 0, text) from None
