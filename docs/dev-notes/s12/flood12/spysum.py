"""py-spy's raw output (``-f raw``) summed: each frame's share, inclusive and its own."""
import collections
import sys
from pathlib import Path

inclusive: collections.Counter[str] = collections.Counter()
own: collections.Counter[str] = collections.Counter()
total = 0
for line in Path(sys.argv[1]).read_text().splitlines():
    stack, _, count = line.rstrip().rpartition(" ")
    n = int(count)
    total += n
    frames = [f.split(" (")[0] for f in stack.split(";")]
    for frame in set(frames):
        inclusive[frame] += n
    own[frames[-1]] += n
print("samples", total)
print("-- inclusive")
for frame, n in inclusive.most_common(40):
    print(f"{n / total * 100:5.1f}% {frame}")
print("-- own")
for frame, n in own.most_common(20):
    print(f"{n / total * 100:5.1f}% {frame}")
