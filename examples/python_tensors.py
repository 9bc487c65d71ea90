#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A toy device-tensor library instrumented with the ttalloc package, and its
leak check. Run it with a tt-alloc-server up (TT_ALLOC_SOCKET if not default).

It keeps 4 weight tensors of 2 MiB in DRAM, checks that a block of
activations frees what it allocates (it does), then that a second block does
(it leaks one 8 KiB L1 tensor: the LeakError says which), and prints, as JSON,
this process's entry from the server's snapshot.
"""
import json
import math
import os

import ttalloc


class DeviceTensor:
    """Owns a range of device memory from a bump allocator; tells tt-alloc."""

    next_address = {"dram": 0x80000000, "l1": 0x100000}

    def __init__(self, shape, memory="dram", device=0, itemsize=2):
        self.size = math.prod(shape) * itemsize
        self.memory, self.device = memory, device
        self.address = DeviceTensor.next_address[memory]
        DeviceTensor.next_address[memory] += self.size
        ttalloc.record_alloc(device, memory, self.address, self.size)

    def deallocate(self):
        if self.address is not None:
            ttalloc.record_free(self.device, self.memory, self.address)
            self.address = None

    __del__ = deallocate


def main():
    ttalloc.set_label("python_tensors example")
    weights = [DeviceTensor((1024, 1024)) for _ in range(4)]

    with ttalloc.no_leaks(where="the clean block"):
        x = DeviceTensor((32, 1024), memory="l1")
        y = DeviceTensor((32, 1024), memory="l1")
        del x, y                                   # freed: no LeakError

    cache = []
    try:
        with ttalloc.no_leaks(where="the leaky block"):
            cache.append(DeviceTensor((64, 64), memory="l1"))   # kept: a leak
    except ttalloc.LeakError as e:
        print(f"LeakError: {e}")

    ttalloc.flush()
    me = [p for p in ttalloc.snapshot()["processes"] if p["pid"] == os.getpid()]
    print(json.dumps(me[0] if me else None))
    return weights


if __name__ == "__main__":
    main()
