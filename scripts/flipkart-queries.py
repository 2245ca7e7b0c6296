#!/usr/bin/env python3
"""Builds a third held-out catalog and query sets from Flipkart's product sample (stdlib only).

Usage: scripts/flipkart-queries.py PRODUCTS_CSV [OUT_DIR] [--products N] [--seed S]
  (defaults: target/eval/flipkart, 5000 products, seed 7)

PRODUCTS_CSV: flipkart_com-ecommerce_sample.csv ("Flipkart Products", PromptCloud, Kaggle; 20,000
products of an Indian marketplace in every department: clothing, jewellery, footwear, phone
accessories, car parts, home decor, kitchen, computers, watches, toys...), or any file whose rows
begin with its uniq_id, product_name and product_category_tree columns (a header row, if any, is
skipped as a row without a category tree). It is not in this repository and no ranking constant
was chosen on it: unlike Luma (one shop of sportswear with descriptions) and the Fashion Product
Images catalog (one department, flat gender/type categories, colours), it spans many departments
with deep category trees, and has neither colours nor descriptions.

Writes products.csv (N products drawn at random: sku = the first 12 characters of uniq_id, title
= the product name, category = the tree's levels joined by "/", up to the first level that begins
with the name's first word (the brand: "Alisha Shorts") or is cut short ("..."); products left
with fewer than two levels are skipped; a "/" within a level becomes "-"), which `vitrine import`
reads, and query sets for `vitrine eval --queries FILE`:

- leaves.jsonl: up to 200 category leaves (the last level some product has), lower case
  ("bedsheets", "car mobile holders"), of at least two products. Relevant: the products with that
  level anywhere below the department (a "Formal Shirts" leaf under "Shirts" is a shirt).
- people.jsonl: "<people> <leaf>" ("women's sarees") where a level among the first three names the
  people (Women's, Men's, Boys', Girls', Kids') and some level below it is the leaf, for up to 150
  such pairs of at least two products. Grade 2: the products for those people under that level;
  grade 1: the others under it. Binary metrics count grade 2.
- titles.jsonl: 250 product names reworded as Luma's titles set rewords them (lower case; with
  three or more words the second dropped; the rest reversed). Relevant: the products with that name.
- nobrand.jsonl: 250 other names without their first word, lower case. Relevant: as titles.
- typos.jsonl: the leaf queries with their longest word misspelt by the rule of Luma's typos set
  (scripts/typo_rule.py), keeping only typos that are no word of the catalog.

Relevance follows the marketplace's own tree, also where a name disagrees with it.
"""
import argparse
import csv
import json
import os
import random
import re
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from query_sets import dump, reworded, without_brand  # noqa: E402
from typo_rule import with_typos  # noqa: E402

PEOPLE = re.compile(r"^(Women's|Men's|Boys'|Girls'|Kids')\s")


def read(source):
    rows, seen = [], set()
    with open(source, newline="", encoding="utf-8", errors="replace") as f:
        for fields in csv.reader(f):
            if len(fields) < 3 or fields[0] in seen:
                continue
            try:
                tree = json.loads(fields[2])[0]
            except (ValueError, IndexError, TypeError):
                continue
            title = " ".join(fields[1].split())
            if not title or not isinstance(tree, str):
                continue
            brand = title.split()[0].lower()
            path = []
            for level in (p.strip() for p in tree.split(">>")):
                if level.endswith("...") or level.lower().startswith(brand) or level == title:
                    break
                path.append(level.replace("/", "-"))
            if len(path) < 2:
                continue
            seen.add(fields[0])
            rows.append(dict(sku=fields[0][:12], title=title, path=path))
    if not rows:
        sys.exit(f"{source}: no product with uniq_id, product_name and a product_category_tree")
    return rows


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source", metavar="PRODUCTS_CSV")
    ap.add_argument("out", nargs="?", default="target/eval/flipkart")
    ap.add_argument("--products", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    rows = read(a.source)
    rng.shuffle(rows)
    rows = rows[: a.products]
    with open(os.path.join(a.out, "products.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "title", "category"])
        for r in rows:
            w.writerow([r["sku"], r["title"], "/".join(r["path"])])
    print(f"products.csv: {len(rows)} products", file=sys.stderr)

    leaves = {r["path"][-1] for r in rows}
    under = defaultdict(set)
    people = defaultdict(set)
    by_title = defaultdict(list)
    for r in rows:
        for level in r["path"][1:]:
            under[level].add(r["sku"])
        for i, level in enumerate(r["path"][:3]):
            m = PEOPLE.match(level)
            if m:
                for below in r["path"][i + 1:]:
                    people[(m.group(1), below)].add(r["sku"])
                break
        by_title[r["title"]].append(r["sku"])

    names = sorted(n for n in leaves if len(under[n]) >= 2)
    rng.shuffle(names)
    leaf_queries = [
        dict(id=f"lf-{i}", group=n.split(" ")[0], text=n.lower(), relevant=sorted(under[n]))
        for i, n in enumerate(names[:200])
    ]
    dump(a.out, "leaves.jsonl", leaf_queries)

    pairs = sorted(k for k, s in people.items() if len(s) >= 2 and k[1] in leaves)
    rng.shuffle(pairs)
    queries = []
    for i, (who, leaf) in enumerate(pairs[:150]):
        rel = {s: 1 for s in sorted(under[leaf])}
        rel.update({s: 2 for s in sorted(people[(who, leaf)])})
        queries.append(dict(id=f"pe-{i}", group=who, text=f"{who} {leaf}".lower(), relevant=rel,
                            min_grade=2))
    dump(a.out, "people.jsonl", queries)

    titles = sorted(t for t in by_title if len(t.split()) >= 3)
    rng.shuffle(titles)
    dump(a.out, "titles.jsonl", [
        dict(id=f"ti-{i}", group="titles", text=reworded(t), relevant=by_title[t])
        for i, t in enumerate(titles[250:500])
    ])
    dump(a.out, "nobrand.jsonl", [
        dict(id=f"nb-{i}", group="nobrand", text=without_brand(t), relevant=by_title[t])
        for i, t in enumerate(titles[:250])
    ])

    catalog_words = {w for r in rows for f in [r["title"], *r["path"]]
                     for w in re.findall(r"[a-z0-9]+", f.lower())}
    dump(a.out, "typos.jsonl", with_typos(leaf_queries, catalog_words))


if __name__ == "__main__":
    main(sys.argv[1:])
