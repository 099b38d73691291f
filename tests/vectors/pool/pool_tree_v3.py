#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Independent reference of the pool key tree (docs/protocol.md §7, protocol
version 3), with Python's hmac/hashlib only. Prints the vectors pinned in
tests/unit/store/test_store_fs.c (test_tree_vectors): root = 32 bytes 0x17."""
import hashlib
import hmac


def child(node, d, depth, idx, b):
    return hmac.new(node, b"mfsec v3 node" + bytes([d, depth + 1, 2 * idx + b]),
                    hashlib.sha256).digest()


def expand(prk, info, length):  # RFC 5869 HKDF-Expand, SHA-384
    out, t, c = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([c]), hashlib.sha384).digest()
        out += t
        c += 1
    return out[:length]


def key(root, d, i, length):
    node, j = root, 0
    for k in range(6):
        b = (i >> (5 - k)) & 1
        node = child(node, d, k, j, b)
        j = 2 * j + b
    return expand(node, b"mfsec v3 key" + bytes([d]) + i.to_bytes(2, "big") +
                  length.to_bytes(2, "big"), length)


if __name__ == "__main__":
    root = bytes([0x17]) * 32
    for d, i, length in [(0, 0, 32), (0, 37, 32), (1, 63, 32), (1, 5, 16)]:
        print(d, i, length, key(root, d, i, length).hex())
