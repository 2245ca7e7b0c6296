#!/usr/bin/env python3
"""Builds a held-out catalog and query sets from the Fashion Product Images metadata (stdlib only).

Usage: scripts/fashion-queries.py STYLES_CSV [OUT_DIR] [--products N] [--seed S]
  (defaults: target/eval/fashion, 3000 products, seed 7)

STYLES_CSV: the styles.csv of "Fashion Product Images (Small)" (Param Aggarwal, Kaggle; about
44,000 products of an Indian online shop: id, gender, masterCategory, subCategory, articleType,
baseColour, season, year, usage, productDisplayName). It is not in this repository and no
ranking constant was chosen on it: it is a second catalog, unlike Luma in shop, words and
structure, to check that what helps on Luma is not fitted to it. Rows whose field count is
wrong (a few names with unquoted commas) or without a name or colour are skipped.

Writes products.csv (N products drawn at random: title = the display name, category =
gender/subCategory/articleType, colour = baseColour; no description, price or photo), which
`vitrine import` reads, and query sets for `vitrine eval --queries FILE`:

- attributes.jsonl: "<colour> <article type>" as the shop names them, lower case ("navy blue
  backpacks"), for up to 200 (colour, article type) pairs some product has. Grade 2: that article
  type in that colour; grade 1: the article type in another colour. Binary metrics count grade 2.
- people.jsonl: "<gender> <colour> <article type>" ("women black heels") for up to 150 such
  triples with gender Men or Women. Grade 2: that article type in that colour for those people
  (or unisex); grade 1: that article type for them in another colour.
- titles.jsonl: 250 display names reworded as Luma's titles set rewords them (lower case; with
  three or more words the second dropped; the rest reversed). Relevant: the products with that
  display name.
- nobrand.jsonl: 250 display names without their first word (mostly the brand), lower case
  ("men navy blue shirt"). Relevant: the products with that display name.
- typos.jsonl: the colour and type queries with their longest word misspelt by the rule of
  Luma's typos set (scripts/luma-queries.py: two letters swapped, one dropped, one doubled or one
  replaced by its keyboard neighbour, in turn; never the first letter), keeping only typos that
  are no word of the catalog ("navy blue bakcpacks"). Relevance as in the query misspelt.

Relevance follows the shop's own fields, including where a name disagrees with them (a
"Brown Sandals" filed under Heels is no sandal here).
"""
import argparse
import csv
import os
import random
import re
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from query_sets import dump, reworded, without_brand  # noqa: E402
from typo_rule import with_typos  # noqa: E402


def read(path):
    rows = []
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        r = csv.reader(f)
        header = next(r, [])
        at = {name: i for i, name in enumerate(header)}
        need = ["id", "gender", "subCategory", "articleType", "baseColour", "productDisplayName"]
        missing = [c for c in need if c not in at]
        if missing:
            sys.exit(f"{path}: no column {', '.join(missing)} (is it the dataset's styles.csv?)")
        for fields in r:
            if len(fields) != len(header):
                continue
            p = {k: fields[i].strip() for k, i in at.items()}
            name = re.sub(r"\s+", " ", p.get("productDisplayName", "")).strip()
            if not name or p["baseColour"] in ("", "NA"):
                continue
            rows.append(
                dict(
                    id=p["id"],
                    gender=p["gender"],
                    sub=p["subCategory"],
                    art=p["articleType"],
                    colour=p["baseColour"],
                    title=name,
                )
            )
    return rows


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("styles")
    ap.add_argument("out", nargs="?", default="target/eval/fashion")
    ap.add_argument("--products", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    styles, out, n, seed = a.styles, a.out, a.products, a.seed
    os.makedirs(out, exist_ok=True)
    rng = random.Random(seed)
    rows = read(styles)
    rng.shuffle(rows)
    rows = rows[:n]
    with open(os.path.join(out, "products.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "title", "category", "color"])
        for r in rows:
            w.writerow([r["id"], r["title"], f"{r['gender']}/{r['sub']}/{r['art']}", r["colour"]])
    print(f"products.csv: {len(rows)} products", file=sys.stderr)

    by_art = defaultdict(list)
    by_pair = defaultdict(list)
    by_triple = defaultdict(list)
    by_title = defaultdict(list)
    for r in rows:
        by_art[r["art"]].append(r)
        by_pair[(r["colour"], r["art"])].append(r)
        by_triple[(r["gender"], r["colour"], r["art"])].append(r)
        by_title[r["title"]].append(r)

    pairs = sorted(by_pair)
    rng.shuffle(pairs)
    queries = []
    for colour, art in pairs[:200]:
        rel = {r["id"]: 1 for r in by_art[art]}
        rel.update({r["id"]: 2 for r in by_pair[(colour, art)]})
        queries.append(
            dict(id=f"at-{colour}-{art}", group=art, text=f"{colour} {art}".lower(),
                 relevant=rel, min_grade=2)
        )
    dump(out, "attributes.jsonl", queries)
    attributes = queries

    triples = sorted(k for k in by_triple if k[0] in ("Men", "Women"))
    rng.shuffle(triples)
    queries = []
    for gender, colour, art in triples[:150]:
        theirs = [r for r in by_art[art] if r["gender"] in (gender, "Unisex")]
        rel = {r["id"]: 1 for r in theirs}
        rel.update({r["id"]: 2 for r in theirs if r["colour"] == colour})
        queries.append(
            dict(id=f"pe-{gender}-{colour}-{art}", group=art,
                 text=f"{gender} {colour} {art}".lower(), relevant=rel, min_grade=2)
        )
    dump(out, "people.jsonl", queries)

    def by_name(title):
        return {r["id"]: 1 for r in by_title[title]}

    queries = []
    for r in rng.sample(rows, min(250, len(rows))):
        queries.append(dict(id=f"ti-{r['id']}", group=r["art"], text=reworded(r["title"]),
                            relevant=by_name(r["title"])))
    dump(out, "titles.jsonl", queries)

    queries = []
    for r in rng.sample([r for r in rows if len(r["title"].split()) >= 3], min(250, len(rows))):
        queries.append(dict(id=f"nb-{r['id']}", group=r["art"], text=without_brand(r["title"]),
                            relevant=by_name(r["title"])))
    dump(out, "nobrand.jsonl", queries)

    catalog_words = {w for r in rows for f in (r["title"], r["sub"], r["art"], r["colour"])
                     for w in re.findall(r"[a-z0-9]+", f.lower())}
    dump(out, "typos.jsonl", with_typos(attributes, catalog_words))


if __name__ == "__main__":
    main(sys.argv[1:])
