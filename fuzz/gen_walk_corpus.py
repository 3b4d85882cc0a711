#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_walk (fuzz/corpus/walk/): small inputs in
the format described at the top of fuzz/fuzz_walk.c, one or two per paging
mode, with valid page tables so the fuzzer starts from walks that succeed.

Usage: python3 fuzz/gen_walk_corpus.py [OUTDIR]   (default fuzz/corpus/walk)
"""
import os
import struct
import sys

OFF, B32, B32PSE, PAE, L4, L5 = range(6)
WP, SMEP, SMAP, PKE, PKS, NXE, PSE, RO = (1 << i for i in range(8))
READ, WRITE, FETCH = 0, 1, 2
IMPLICIT, NOISE, NO_AD, LOSE_CAS = 4, 8, 16, 32


class Image:
    def __init__(self, size=0x10000):
        self.mem = bytearray(size)
        self.top = 0

    def put64(self, gpa, val):
        struct.pack_into('<Q', self.mem, gpa, val)
        self.top = max(self.top, gpa + 8)

    def put32(self, gpa, val):
        struct.pack_into('<I', self.mem, gpa, val)
        self.top = max(self.top, gpa + 4)

    def bytes(self):
        return bytes(self.mem[:self.top])


def encode(mode, maxphy, feat, cpl, ac, cr3, pkru, pkrs, ops, image):
    out = struct.pack('<BBBBQII', mode, maxphy - 36, feat, cpl | (4 if ac else 0),
                      cr3, pkru, pkrs)
    out += struct.pack('<B', len(ops) - 1)
    for op, gva in ops:
        out += struct.pack('<BQ', op, gva & (2**64 - 1))
    return out + image.bytes()


def tables_ia32e(img, key=0):
    """4-level tables, PML4 at 0: 4K, 2M and 1G pages and a self-map."""
    img.put64(0x0000, 0x1007)                      # PML4[0]
    img.put64(0x0000 + 8 * 511, 0x0003)            # PML4[511]: self-map
    img.put64(0x1000, 0x2007)                      # PDPT[0]
    img.put64(0x1008, 0x40000087)                  # PDPT[1]: 1G page
    img.put64(0x2000, 0x3007)                      # PD[0]
    img.put64(0x2008, 0x200083)                    # PD[1]: 2M, supervisor
    img.put64(0x3008, 0x5007 | key << 59)          # PT[1]: user rw
    img.put64(0x3010, 0x8000000000006005)          # PT[2]: user ro XD
    img.put64(0x3018, 0x7003 | key << 59)          # PT[3]: supervisor rw


IA32E_OPS = [(READ, 0x1000), (WRITE, 0x1008), (FETCH, 0x2010), (WRITE, 0x3000),
             (READ, 0x200000), (WRITE | IMPLICIT, 0x40000123),
             (READ, 0xfffffffffffff000), (WRITE | LOSE_CAS, 0x1010)]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus', 'walk')
    os.makedirs(out, exist_ok=True)
    seeds = {}

    img = Image()
    tables_ia32e(img)
    seeds['4level'] = encode(L4, 46, WP | NXE, 0, False, 0x0, 0, 0, IA32E_OPS, img)
    seeds['4level_user_smap'] = encode(L4, 36, SMEP | SMAP | NXE, 3, True, 0x0, 0, 0,
                                       IA32E_OPS + [(READ | IMPLICIT, 0x1000)], img)
    img = Image()
    tables_ia32e(img, key=3)
    seeds['4level_pkeys'] = encode(L4, 52, WP | PKE | PKS | NXE, 3, False, 0x0,
                                   0b11 << 6, 0b10 << 6, IA32E_OPS, img)

    img = Image()
    tables_ia32e(img)
    img.put64(0x4000, 0x0007)                      # PML5[0] -> PML4
    img.put64(0x4000 + 8 * 511, 0x4003)            # PML5[511]: self-map
    seeds['5level'] = encode(L5, 52, WP | NXE | PSE, 0, False, 0x4000, 0, 0,
                             IA32E_OPS, img)

    img = Image()                                  # PAE: PDPTEs at 0x20
    img.put64(0x0020, 0x1001)
    img.put64(0x0028, 0x3001)
    img.put64(0x1000, 0x2007)                      # PD[0] -> PT
    img.put64(0x1008, 0x8000000000200083)          # PD[1]: 2M, XD
    img.put64(0x2008, 0x5007)
    img.put64(0x2010, 0x6005)
    pae_ops = [(READ, 0x1000), (WRITE, 0x1000), (FETCH, 0x200000), (WRITE, 0x2000),
               (READ, 0x40000000), (READ, 0xc0000000)]
    seeds['pae_nx'] = encode(PAE, 36, WP | NXE, 0, False, 0x20, 0, 0, pae_ops, img)
    seeds['pae_user'] = encode(PAE, 52, SMEP, 3, False, 0x20, 0, 0, pae_ops, img)

    img = Image()                                  # 32-bit: PD at 0
    img.put32(0x0000, 0x1007)                      # PDE[0] -> PT
    img.put32(0x0004, 0x00c00000 | 0x5 << 13 | 0x87)   # PDE[1]: 4M, PSE-36
    img.put32(0x0008, 0x00800000 | 1 << 17 | 0x87)     # PDE[2]: bit 17
    img.put32(0x1004, 0x5007)
    img.put32(0x1008, 0x6005)
    b32_ops = [(READ, 0x1000), (WRITE, 0x2000), (FETCH, 0x1000),
               (WRITE, 0x400123), (READ, 0x800000), (WRITE | NO_AD, 0x1000)]
    seeds['32bit_pse36'] = encode(B32PSE, 36, WP, 0, False, 0x0, 0, 0, b32_ops, img)
    seeds['32bit_pse40'] = encode(B32PSE, 40, SMEP, 3, False, 0x0, 0, 0, b32_ops, img)
    seeds['32bit_nopse_ro'] = encode(B32, 46, WP | RO, 0, False, 0x0, 0, 0, b32_ops, img)

    seeds['paging_off'] = encode(OFF, 46, 0, 0, False, 0, 0, 0,
                                 [(READ, 0x1234), (FETCH, 0xfffff000)], Image())

    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    print(f'{len(seeds)} seeds in {out}')


if __name__ == '__main__':
    main()
