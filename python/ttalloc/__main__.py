# SPDX-License-Identifier: Apache-2.0
"""python3 -m ttalloc [snapshot|buffers PID|exits]: print the server's view as JSON."""
import argparse
import dataclasses
import json
import sys

import ttalloc


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m ttalloc", description=__doc__)
    ap.add_argument("--socket", help="server socket (default: $TT_ALLOC_SOCKET or the standard paths)")
    ap.add_argument("what", nargs="?", default="snapshot", choices=["snapshot", "buffers", "exits"])
    ap.add_argument("pid", nargs="?", type=int)
    args = ap.parse_args(argv)
    try:
        if args.what == "snapshot":
            out = ttalloc.snapshot(args.socket)
        elif args.what == "buffers":
            if args.pid is None:
                ap.error("buffers needs a PID")
            out = [dict(dataclasses.asdict(b), type=b.type.label)
                   for b in ttalloc.buffers(args.pid, args.socket)]
        else:
            out = [dataclasses.asdict(e) for e in ttalloc.exits(args.socket)]
    except (OSError, ImportError) as e:
        print(f"ttalloc: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
