"""What the held-out catalogs' query generators share: how a set is written, and the rewording
rules of the titles and no-brand sets."""
import json
import os
import sys


def dump(out, name, queries):
    """Writes `queries` to OUT/NAME as JSON Lines, which `vitrine eval --queries` reads."""
    with open(os.path.join(out, name), "w") as f:
        for q in queries:
            f.write(json.dumps(q) + "\n")
    print(f"{name}: {len(queries)} queries", file=sys.stderr)


def reworded(title):
    """A product name as Luma's titles set rewords it: lower case; with three or more words the
    second dropped; the rest reversed."""
    words = title.lower().split()
    if len(words) >= 3:
        words = [words[0]] + words[2:]
    return " ".join(reversed(words))


def without_brand(title):
    """A product name without its first word (mostly the brand), lower case."""
    return " ".join(title.split()[1:]).lower()
