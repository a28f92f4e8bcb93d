"""eBPF object files as data: the programs, their map references and the maps
they declare, read from the ELF file clang writes (pure).

The toolkit's programs follow one convention, so that loading them needs no
libbpf: maps are declared in a section named ``maps`` as ``struct map_def``
(five 32-bit fields: type, key size, value size, entries, flags: the legacy
layout iproute2 reads too), each program is one section of instructions
whose only relocations are 64-bit immediate loads of a map's address
(``R_BPF_64_64``), with every function inlined, and ``license`` holds the
license string. Anything else in an object (BPF-to-BPF calls, global
variables, BTF-defined maps) is refused with :class:`BpfObjectError`, naming
what was found.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ._errors import Ipv6Error

INSTRUCTION = 8
R_BPF_64_64 = 1
SHT_SYMTAB, SHT_REL = 2, 9
_ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_SECTION = struct.Struct("<IIQQQQIIQQ")
_SYMBOL = struct.Struct("<IBBHQQ")
_REL = struct.Struct("<QQ")
_MAP_DEF = struct.Struct("<IIIII")


class BpfObjectError(Ipv6Error):
    """An eBPF object file the toolkit cannot load: not one, or not of its convention."""


@dataclass(frozen=True)
class MapDef:
    """A map as the object declares it."""

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int


@dataclass(frozen=True)
class ProgramText:
    """One program: its section's instructions and where each map's address goes
    (byte offsets of ``ld_imm64`` instructions)."""

    section: str
    instructions: bytes
    relocations: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class BpfObject:
    maps: dict[str, MapDef]
    programs: dict[str, ProgramText]
    license: str


def _cstring(table: bytes, offset: int) -> str:
    end = table.index(b"\0", offset)
    return table[offset:end].decode("ascii", "replace")


def read_object(data: bytes) -> BpfObject:
    """The maps and programs of an eBPF ELF object (``clang -target bpf -c``)."""
    try:
        return _read(data)
    except (struct.error, IndexError, ValueError, KeyError, UnicodeDecodeError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise BpfObjectError(f"not a well-formed eBPF object ({why})") from None


def _read(data: bytes) -> BpfObject:
    if len(data) < _ELF_HEADER.size or data[:4] != b"\x7fELF":
        raise BpfObjectError("not an ELF file")
    ident, _kind, machine, *_, shoff, _flags, _ehsize, _, _, shentsize, shnum, shstrndx = (
        _ELF_HEADER.unpack_from(data)
    )
    if ident[4] != 2 or ident[5] != 1 or machine != 247:  # ELFCLASS64, little-endian, EM_BPF
        raise BpfObjectError("not a little-endian 64-bit eBPF object")
    try:
        sections = [_SECTION.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
        names = data[sections[shstrndx][4] : sections[shstrndx][4] + sections[shstrndx][5]]
    except (struct.error, IndexError):
        raise BpfObjectError("its section headers lie outside the file") from None

    def name_of(index: int) -> str:
        return _cstring(names, sections[index][0])

    def body(index: int) -> bytes:
        offset, size = sections[index][4], sections[index][5]
        if offset + size > len(data):
            raise BpfObjectError(f"section {name_of(index)} lies outside the file")
        return data[offset : offset + size]

    by_name = {name_of(i): i for i in range(len(sections))}
    symtab = next((i for i, s in enumerate(sections) if s[1] == SHT_SYMTAB), None)
    if symtab is None:
        raise BpfObjectError("it has no symbol table")
    strings = body(sections[symtab][6])
    symbols = [
        _SYMBOL.unpack_from(body(symtab), i) for i in range(0, sections[symtab][5], _SYMBOL.size)
    ]
    maps_index = by_name.get("maps")
    maps: dict[str, MapDef] = {}
    if maps_index is not None:
        raw = body(maps_index)
        for name_at, _info, _other, shndx, value, _size in symbols:
            if shndx == maps_index and name_at:
                fields = _MAP_DEF.unpack_from(raw, value)
                name = _cstring(strings, name_at)
                maps[name] = MapDef(name, *fields)
    license_index = by_name.get("license")
    license_text = body(license_index).rstrip(b"\0").decode() if license_index else ""
    programs: dict[str, ProgramText] = {}
    for index, section in enumerate(sections):
        if section[1] != SHT_REL:
            continue
        target = section[7]  # sh_info: the section the relocations apply to
        relocations = []
        for offset, info in (_REL.unpack_from(body(index), i) for i in range(0, section[5], 16)):
            kind, symbol = info & 0xFFFFFFFF, info >> 32
            name_at, _info, _other, shndx, _value, _size = symbols[symbol]
            name = _cstring(strings, name_at)
            if kind != R_BPF_64_64 or shndx != maps_index:
                raise BpfObjectError(
                    f"{name_of(target)} refers to {name or 'a section'} (relocation {kind}):"
                    " only maps are supported"
                )
            relocations.append((offset, name))
        programs[name_of(target)] = ProgramText(name_of(target), body(target), tuple(relocations))
    for index, section in enumerate(sections):  # programs without any map
        flags, name = section[2], name_of(index)
        if flags & 0x4 and section[5] and name not in programs and name != ".text":
            programs[name] = ProgramText(name, body(index), ())
    text = by_name.get(".text")
    if text is not None and sections[text][5]:
        raise BpfObjectError("it has functions that are not inlined (.text): only inline ones load")
    return BpfObject(maps, programs, license_text)


def link(program: ProgramText, fds: dict[str, int]) -> bytes:
    """The program's instructions with each map reference made the map's file
    descriptor (``BPF_PSEUDO_MAP_FD``), ready for ``BPF_PROG_LOAD``."""
    out = bytearray(program.instructions)
    for offset, name in program.relocations:
        if offset % INSTRUCTION or offset + 16 > len(out) or out[offset] != 0x18:
            raise BpfObjectError(f"{program.section}: a map reference at {offset} is not ld_imm64")
        out[offset + 1] = (out[offset + 1] & 0x0F) | (1 << 4)  # src_reg = BPF_PSEUDO_MAP_FD
        struct.pack_into("<i", out, offset + 4, fds[name])
    return bytes(out)
