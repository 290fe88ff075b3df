"""Reads a Terraform TF_LOG=trace file in which this provider logged its handler times
(TF_PROVIDER_IPAM_LOG=debug) and prints where the time went: each gRPC call Terraform
made to the provider, the provider's time handling it, and Terraform's own time until
its next call. Used by scripts/trace-terraform.sh."""
import re
import sys
from datetime import datetime

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z \[(\w+)\] (.*)$")
CALL = re.compile(r"GRPCProvider\.v6: (\w+)$")
HANDLED = re.compile(r'handled rpc="(\w+)" elapsed_us=(\d+)')


def main(title, path):
    events = []  # (seconds, kind, name, handler seconds)
    first = last = None
    for line in open(path, encoding="utf-8", errors="replace"):
        m = STAMP.match(line)
        if not m:
            continue
        t = datetime.fromisoformat(m.group(1)).timestamp()
        first = t if first is None else first
        last = t
        msg = m.group(3)
        c = CALL.search(msg)
        if c and c.group(1) not in ("Close",) and "cached schema" not in msg:
            events.append([t, c.group(1), 0.0])
            continue
        h = HANDLED.search(msg)
        if h:
            # The handler's time goes to the latest call of that name.
            for e in reversed(events):
                if e[1] == h.group(1):
                    e[2] += int(h.group(2)) / 1e6
                    break
    if first is None:
        print(f"{title}: no trace lines in {path}")
        return
    total = last - first
    handlers = sum(e[2] for e in events)
    print(f"\n{title}: {total:.2f} s from the first trace line to the last; "
          f"this provider's handlers {handlers:.2f} s, Terraform and transport {total - handlers:.2f} s")
    print(f"  {'at (s)':>8}  {'call':<28} {'provider (s)':>12}  {'Terraform until next (s)':>24}")
    marks = [first] + [e[0] for e in events] + [last]
    names = ["(start)"] + [e[1] for e in events]
    handler = [0.0] + [e[2] for e in events]
    # Calls that take under 10 ms with under 10 ms of Terraform after them are folded.
    folded = 0
    for i, name in enumerate(names):
        gap = marks[i + 1] - marks[i] - handler[i]
        if handler[i] < 0.01 and gap < 0.01:
            folded += 1
            continue
        print(f"  {marks[i] - first:8.2f}  {name:<28} {handler[i]:12.3f}  {gap:24.2f}")
    if folded:
        print(f"  ({folded} calls of under 10 ms, with under 10 ms after them, not shown)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
