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


def with_typos(queries, catalog_words):
    """The queries again, each with its longest word (four or more letters) misspelt
    ((misspell), the kind taken in turn), keeping only typos that are no word of
    `catalog_words`; relevance as in the query misspelt."""
    out = []
    for q in queries:
        words = q["text"].split()
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        if len(words[longest]) < 4 or not words[longest].isalpha():
            continue
        typo = misspell(words[longest], len(out))
        if typo == words[longest] or typo in catalog_words:
            continue
        words[longest] = typo
        out.append(dict(q, id="typo-" + q["id"], text=" ".join(words)))
    return out
