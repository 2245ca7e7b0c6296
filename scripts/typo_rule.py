"""The typo rule of the generated query sets (scripts/luma-queries.py, scripts/fashion-queries.py)."""

ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
NEIGHBOUR = {r[i]: r[i + 1] if i + 1 < len(r) else r[i - 1] for r in ROWS for i in range(len(r))}


def misspell(word, k):
    """The k-th typo of `word`, the kind taken in turn: two letters swapped, one dropped, one
    doubled, one replaced by its right-hand neighbour on a QWERTY keyboard; never the first
    letter."""
    i = 1 + (k // 4) % (len(word) - 2)
    return [word[:i] + word[i + 1] + word[i] + word[i + 2:], word[:i] + word[i + 1:],
            word[:i] + word[i] + word[i:], word[:i] + NEIGHBOUR.get(word[i], word[i]) + word[i + 1:]][k % 4]
