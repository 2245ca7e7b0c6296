#!/usr/bin/env python3
"""Builds evaluation query sets from the Luma demo catalog (stdlib only).

Usage: scripts/luma-queries.py [LUMA_DIR] [OUT_DIR]
  (defaults: ../shared/catalogs/luma and target/eval)

Writes JSON Lines query sets for `vitrine eval --queries FILE`, products-main-views.csv (its
photos by absolute path into the Luma folder: import it with --allow-outside) for
the photo set's catalog, and products-titles.csv: the products without their descriptions and
photos, a catalog of short texts on which the attribute, title and filter sets (whose
relevance does not depend on descriptions) are measured too. How relevance is derived, per set:

Kinds: a category leaf names one kind of product ("Bags": bag) or two ("Bras & Tanks": bra,
tank; "Hoodies & Sweatshirts": hoodie, sweatshirt). A product of a two-name leaf is of the
kind its title names ("Antonia Racer Tank": tank), or of both when its title names neither
("Maya Tunic"). A kind's family: every product of a leaf that names it (for "tank": the men's
tanks and all of "Bras & Tanks").

- attributes.jsonl: "<colour> <kind>" ("blue bag", "black hoodie") for every colour and kind
  that some product has. Grade 2: the product is of that kind and has that colour (any of its
  variants); grade 1: the rest of the kind's family. Binary metrics count grade 2 (min_grade 2);
  nDCG uses both grades.
- titles.jsonl: each product's title reworded by rule (lower case; with three or more words the
  second word is dropped; the remaining words reversed), e.g. "Chaz Kangeroo Hoodie" ->
  "hoodie chaz". The one relevant product is the one whose title it is.
- photos.jsonl: each product's first back or alternate view (view other than main) must find the
  product. Run it against a catalog imported from products-main-views.csv (the same catalog
  without those views), so that the query photo is not itself in the catalog. Needs a CLIP model.
- filters.jsonl: the attribute queries again, each with a price ceiling (the median price of its
  grade-2 products) or a top-level category, where relevance keeps only products that pass the
  filter.
- descriptions.jsonl: natural descriptive queries. For each product, the first sentence of its
  description with six or more words and none of the product's own name words (the title
  less its category word), reworded by rule: lower case, punctuation dropped, a leading
  "the"/"this" dropped, words swapped through the fixed paraphrase table PARAPHRASE, cut to 14
  words. Relevant (grade 1): every product whose description has that sentence.
- reviews.jsonl: queries written as customers write reviews. For each product, its second
  sentence of six or more words (its first if it has one), reworded as in descriptions.jsonl
  (a leading "it" dropped too, cut to 12 words), between an opener naming the product's kind and
  a closer, each taken in turn from the fixed lists OPENERS and CLOSERS ("got this bag for my
  husband and ... , would definitely buy it again"). Relevant (grade 1): every product whose
  description has that sentence.
- uses.jsonl: use, material and feature phrases ("shorts for running", "fleece hoodie", "bag
  with pockets", "jacket for hiking with hood"), from the fixed word lists USES, MATERIALS and
  FEATURES. Grade 2: products of that kind whose description has every named word (a word's
  plural or "-ing" form counts); grade 1: the rest of the kind's family. Only queries that some
  but not all of the kind's products match. Binary metrics count grade 2.
- synonyms.jsonl: queries where keywords fail. The attribute and category queries again with
  the colour and the kind replaced by a synonym from the fixed tables COLOR_SYNONYMS
  and LEAF_SYNONYMS ("grey trousers", "rucksack"), used only when the synonym is in no
  product's title, description, category or colour, so no query word matches the catalog's
  text. Relevance as in attributes.jsonl (kind-only queries: every product of the kind grade 2,
  the rest of its family grade 1).
- chatter.jsonl: the synonym queries again, each followed by a phrase of everyday review chatter
  taken in turn from the fixed list CHATTER ("windbreaker, wore it hiking all weekend"), whose
  words the catalog's descriptions do use: keywords match only the chatter, so the fused ranking
  should follow the product-text signal. Relevance as in synonyms.jsonl.
- typos.jsonl: the attribute and use queries with their longest word misspelt by rule (two
  letters swapped, one dropped, one doubled or one replaced by its neighbour on the keyboard, in
  turn; never the first letter), keeping only typos that are no catalog word ("blue hoodei",
  "shorts for runing"). Relevance as in the query misspelt.
"""
import csv
import json
import os
import re
import statistics
import sys
from collections import OrderedDict, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from typo_rule import with_typos  # noqa: E402

luma = sys.argv[1] if len(sys.argv) > 1 else "../shared/catalogs/luma"
out = sys.argv[2] if len(sys.argv) > 2 else "target/eval"
os.makedirs(out, exist_ok=True)

rows = list(csv.DictReader(open(os.path.join(luma, "products.csv"), encoding="utf-8")))
products = OrderedDict()
for r in rows:
    p = products.setdefault(r["product_id"], {"sku": r["product_id"], "title": r["title"], "category": r["category"],
                                               "colors": set(), "price": r["price"], "views": []})
    if r["color"]:
        p["colors"].add(r["color"].lower())
    p["views"].append((r["view"], r["image_file"]))

LEAF_WORDS = {}


def singular(name):
    """A kind's name in the singular: 'Fitness Equipment' -> 'fitness equipment', 'Watches' -> 'watch'."""
    words = name.strip().lower().split()
    last = words[-1] if words else ""
    if last.endswith("shes") or last.endswith("ches") or last.endswith("sses"):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return " ".join(words[:-1] + [last])


def leaf_names(category):
    """The kinds a category leaf names, singular: 'Hoodies & Sweatshirts' -> ['hoodie', 'sweatshirt']."""
    return [singular(n) for n in category.split("/")[-1].split("&") if n.strip()]


def kinds(p):
    """The kinds of product p is: of the names of its category leaf, those its title has ('Antonia
    Racer Tank' in 'Bras & Tanks' is a tank, not a bra), or all of them when its title has none."""
    names = leaf_names(p["category"])
    title = {singular(w) for w in re.findall(r"[a-z0-9]+", p["title"].lower())}
    return [n for n in names if n in title] or names


def kind_of(p):
    """The first kind of product p is."""
    return kinds(p)[0]


def write(name, queries):
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    print(f"{name}: {len(queries)} queries")


def price(p):
    try:
        return float(p["price"])
    except ValueError:
        return None


# Attribute queries, by kind: a category leaf that names two ("Bras & Tanks") gives each of its
# products to the kind its title names (kinds()), so that a yellow tank is a full match for
# "yellow tank" and not for "yellow bra". A kind's family is every product of a leaf that
# names it (bras, for "tank"): the products of its kind first, grade 1 at most.
by_kind = defaultdict(list)
families = defaultdict(list)
for p in products.values():
    if p["category"]:
        for kind in kinds(p):
            by_kind[kind].append(p)
        for name in leaf_names(p["category"]):
            families[name].append(p)


def family(kind):
    """The products of a kind, then the rest of the products of the leaves that name it."""
    return by_kind[kind] + [p for p in families[kind] if p not in by_kind[kind]]


attribute = []
for leaf, ps in sorted(by_kind.items()):
    for color in sorted({c for p in ps for c in p["colors"]}):
        relevant = {p["sku"]: (2 if p in ps and color in p["colors"] else 1) for p in family(leaf)}
        attribute.append({"id": f"attr-{color}-{leaf}", "group": leaf, "text": f"{color} {leaf}",
                          "relevant": relevant, "min_grade": 2})
write("attributes.jsonl", attribute)

# Title queries.
titles = []
for p in products.values():
    words = p["title"].lower().replace("&trade;", "").split()
    if len(words) >= 3:
        words = [words[0]] + words[2:]
    titles.append({"id": f"title-{p['sku']}", "group": p["category"].split("/")[0] or "other",
                   "text": " ".join(reversed(words)), "relevant": {p["sku"]: 1}})
write("titles.jsonl", titles)

# Photo queries, and the catalog without the query views.
photos, held_out = [], set()
for p in products.values():
    alt = next((f for v, f in p["views"] if v != "main"), None)
    if alt and any(v == "main" for v, _ in p["views"]):
        held_out.add(alt)
        photos.append({"id": f"photo-{p['sku']}", "group": p["category"].split("/")[0] or "other",
                       "image": os.path.abspath(os.path.join(luma, "images", alt)), "relevant": {p["sku"]: 1}})
write("photos.jsonl", photos)
with open(os.path.join(out, "products-main-views.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    for r in rows:
        if r["image_file"] not in held_out:
            r = dict(r)
            r["image_file"] = os.path.abspath(os.path.join(luma, "images", r["image_file"]))
            w.writerow(r)

# The same products with titles, categories, colours and prices only.
with open(os.path.join(out, "products-titles.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    for r in rows:
        w.writerow(dict(r, description="", image_file="", source_path=""))

# Filter queries.
filtered = []
for q in attribute:
    full = [s for s, g in q["relevant"].items() if g == 2]
    prices = [price(products[s]) for s in full if price(products[s]) is not None]
    if prices:
        ceiling = statistics.median(prices)
        rel = {s: g for s, g in q["relevant"].items() if (price(products[s]) or 1e9) <= ceiling}
        filtered.append({**q, "id": q["id"] + "-under", "group": "price ceiling",
                         "filters": {"max_price": ceiling}, "relevant": rel})
    top = {products[s]["category"].split("/")[0] for s in full}
    if len(top) > 1:
        t = sorted(top)[0]
        rel = {s: g for s, g in q["relevant"].items() if products[s]["category"].startswith(t + "/")}
        filtered.append({**q, "id": q["id"] + "-" + t.lower(), "group": "category",
                         "filters": {"category": t}, "relevant": rel})
write("filters.jsonl", filtered)


# Natural descriptive queries.
PARAPHRASE = {"comfortable": "comfy", "lightweight": "light", "durable": "tough", "pockets": "pouches",
              "pocket": "pouch", "keeps": "keeps", "designed": "made", "ideal": "great", "perfect": "great",
              "features": "has", "offers": "gives", "provides": "gives", "fabric": "material",
              "workout": "exercise", "workouts": "exercises", "moisture-wicking": "sweat-wicking",
              "stylish": "smart", "plenty": "lots", "large": "big", "quickly": "fast", "easily": "easy",
              "you": "you", "your": "your", "breathable": "airy", "soft": "soft"}


def words_of(text):
    return re.findall(r"[a-z0-9]+(?:['-][a-z0-9]+)*", text.lower())


def sentences(description):
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\s*•\s*", description) if s.strip()]


descriptions = []
all_products = list(products.values())
for p in all_products:
    row = next(r for r in rows if r["product_id"] == p["sku"])
    p["description"] = row["description"]
for p in all_products:
    name = set(words_of(p["title"])) - set(kinds(p))
    for sent in sentences(p["description"]):
        ws = words_of(sent)
        if len(ws) < 6 or name & set(ws):
            continue
        if ws[0] in ("the", "this"):
            ws = ws[1:]
        query = " ".join(PARAPHRASE.get(w, w) for w in ws[:14])
        relevant = {q["sku"]: 1 for q in all_products if sent in q["description"]}
        descriptions.append({"id": f"desc-{p['sku']}", "group": p["category"].split("/")[0] or "other",
                             "text": query, "relevant": relevant})
        break
write("descriptions.jsonl", descriptions)

# Queries written as customers write reviews.
OPENERS = ["i bought this {leaf} last month and", "got this {leaf} for my husband and",
           "my daughter asked for this {leaf} because", "ordered the {leaf} in my usual size and honestly",
           "i was not sure about this {leaf} at first but"]
CLOSERS = ["really happy with it overall", "would definitely buy it again", "fits true to size and arrived quickly",
           "great value for the money", "five stars from me"]
reviews = []
for p in all_products:
    eligible = [s for s in sentences(p["description"]) if len(words_of(s)) >= 6]
    if not eligible:
        continue
    sent = eligible[1] if len(eligible) > 1 else eligible[0]
    ws = words_of(sent)
    if ws[0] in ("the", "this", "it"):
        ws = ws[1:]
    i = len(reviews)
    body = " ".join(PARAPHRASE.get(w, w) for w in ws[:12])
    opener = OPENERS[i % len(OPENERS)].format(leaf=kind_of(p))
    text = f"{opener} {body}, {CLOSERS[(i // len(OPENERS)) % len(CLOSERS)]}"
    relevant = {q["sku"]: 1 for q in all_products if sent in q["description"]}
    reviews.append({"id": f"review-{p['sku']}", "group": p["category"].split("/")[0] or "other",
                    "text": text, "relevant": relevant})
write("reviews.jsonl", reviews)

# Use, material and feature queries.
USES = ["gym", "yoga", "running", "hiking", "travel", "training", "cycling", "cold", "rain", "outdoor"]
MATERIALS = ["cotton", "polyester", "nylon", "fleece", "spandex", "wool", "leather", "mesh"]
FEATURES = ["pockets", "hood", "zipper", "drawstring", "reflective", "adjustable", "waterproof"]


def mentions(p, word):
    stem = word[:-1] if word.endswith("s") else word
    return re.search(r"\b" + re.escape(stem) + r"(s|es|ing|ed)?\b", p["description"].lower()) is not None


uses = []
for leaf, ps in sorted(by_kind.items()):
    plural = leaf if leaf.endswith("s") else (leaf + "es" if leaf.endswith(("sh", "ch")) else leaf + "s")
    phrases = [(f"{plural} for {u}", [u]) for u in USES]
    phrases += [(f"{m} {leaf}", [m]) for m in MATERIALS]
    phrases += [(f"{leaf} with {f}", [f]) for f in FEATURES]
    phrases += [(f"{leaf} for {u} with {f}", [u, f]) for u in USES for f in FEATURES]
    for text, need in phrases:
        hits = [p for p in ps if all(mentions(p, w) for w in need)]
        if 0 < len(hits) < len(ps):
            relevant = {p["sku"]: (2 if p in hits else 1) for p in family(leaf)}
            uses.append({"id": "use-" + text.replace(" ", "-"), "group": leaf, "text": text,
                         "relevant": relevant, "min_grade": 2})
write("uses.jsonl", uses)

# Queries where keywords fail.
COLOR_SYNONYMS = {"gray": ["grey", "charcoal"], "red": ["crimson", "scarlet"], "purple": ["violet", "plum"],
                  "orange": ["tangerine"], "yellow": ["lemon", "mustard"], "white": ["ivory", "cream"],
                  "black": ["ebony", "jet"], "green": ["olive", "emerald"], "blue": ["azure", "cobalt"],
                  "brown": ["chocolate"], "pink": ["rose"]}
LEAF_SYNONYMS = {"pant": ["trousers", "slacks"], "jacket": ["windbreaker", "anorak", "parka"],
                 "hoodie": ["jumper", "sweater"], "tank": ["singlet"], "bra": ["brassiere"],
                 "bag": ["rucksack", "holdall", "knapsack"], "watch": ["wristwatch", "timepiece"],
                 "tee": ["t-shirt"], "short": ["bermudas"], "fitness equipment": ["home gym gear"]}
catalog_words = set()
for p in all_products:
    catalog_words |= set(words_of(" ".join([p["title"], p["description"], p["category"], " ".join(p["colors"])])))


def unseen(phrase):
    return not set(words_of(phrase)) & catalog_words


synonyms = []
for leaf, ps in sorted(by_kind.items()):
    for syn in [s for s in LEAF_SYNONYMS.get(leaf, []) if unseen(s)]:
        synonyms.append({"id": f"syn-{syn}", "group": leaf, "text": syn,
                         "relevant": {p["sku"]: (2 if p in ps else 1) for p in family(leaf)},
                         "min_grade": 2})
        for color in sorted({c for p in ps for c in p["colors"]}):
            for csyn in [s for s in COLOR_SYNONYMS.get(color, []) if unseen(s)][:1]:
                relevant = {p["sku"]: (2 if p in ps and color in p["colors"] else 1) for p in family(leaf)}
                synonyms.append({"id": f"syn-{csyn}-{syn}", "group": leaf, "text": f"{csyn} {syn}",
                                 "relevant": relevant, "min_grade": 2})
write("synonyms.jsonl", synonyms)

# The same, amid chatter that keywords do match.
CHATTER = ["great for my workouts and really comfortable", "love the soft fabric, fits perfectly",
           "perfect for the gym and running errands", "nice quality, keeps me cool and dry",
           "my wife wears it to yoga class", "light and easy to pack for travel",
           "good value, the color looks great", "wore it hiking all weekend"]
write("chatter.jsonl", [dict(q, id=q["id"].replace("syn-", "chat-", 1), text=f"{q['text']}, {CHATTER[i % len(CHATTER)]}")
                        for i, q in enumerate(synonyms)])

# Typed with a typo: the attribute and use queries again, their longest word (four or more
# letters) misspelt by rule, the kind of typo taken in turn: two letters swapped, one dropped,
# one doubled, one replaced by its right-hand neighbour on a QWERTY keyboard; never the first
# letter. Only typos that are no catalog word. Relevance as in the query misspelt.
write("typos.jsonl", with_typos(attribute + uses, catalog_words))
