#!/usr/bin/env python3
"""Turns real customer reviews into a query set (stdlib only).

Usage: scripts/customer-reviews.py REVIEWS_CSV [LUMA_DIR] [OUT_DIR]
  (defaults: ../shared/catalogs/luma and target/eval)

REVIEWS_CSV is the Magento sample data's review fixture, the same source as the Luma catalog
(OSL-3.0): app/code/Magento/ReviewSampleData/fixtures/products_reviews.csv of the
magento/magento2-sample-data repository (columns sku, rating_code, rating_value, title, review,
reviewer, email). It is not in this repository and not in ../shared: get it from there.

Writes customer-reviews.jsonl: one query per review of a product the catalog has, its text the
review as written (typos, capitals and all), relevant (grade 1) the product reviewed, grouped
by the product's top-level category. Reviews of products the catalog lacks are left out.
These are people's words, not made by a rule: a set to check the ranking on, not to tune it on.
"""
import csv
import json
import os
import sys

if len(sys.argv) < 2:
    sys.exit(__doc__)
reviews = sys.argv[1]
luma = sys.argv[2] if len(sys.argv) > 2 else "../shared/catalogs/luma"
out = sys.argv[3] if len(sys.argv) > 3 else "target/eval"
os.makedirs(out, exist_ok=True)

category = {}
for r in csv.DictReader(open(os.path.join(luma, "products.csv"), encoding="utf-8")):
    category.setdefault(r["product_id"], r["category"].split("/")[0])

kept = skipped = 0
with open(os.path.join(out, "customer-reviews.jsonl"), "w", encoding="utf-8") as f:
    for i, r in enumerate(csv.DictReader(open(reviews, encoding="utf-8"))):
        text = " ".join(r["review"].split())
        if r["sku"] not in category or not text:
            skipped += 1
            continue
        kept += 1
        query = {"id": f"review-{i + 1}-{r['sku']}", "group": category[r["sku"]], "text": text,
                 "relevant": {r["sku"]: 1}}
        f.write(json.dumps(query) + "\n")
print(f"customer-reviews.jsonl: {kept} reviews ({skipped} of products not in the catalog left out)",
      file=sys.stderr)
