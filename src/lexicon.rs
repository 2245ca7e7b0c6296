//! The words of every product: which of a query's words a product has (keyword coverage), and
//! BM25 over them (the keyword signal's ranking).
//!
//! Words are split, lower-cased and stripped of Latin diacritics as SQLite's FTS5 `unicode61`
//! tokenizer (`remove_diacritics 2`) does: runs of letters and digits. The fields are title,
//! description, category, colour, SKU and the descriptive attributes
//! ([`crate::domain::DESCRIPTIVE_ATTRIBUTES`]: brand, material, tags…). The vocabulary is
//! sorted, so a word's prefix is a range of word ids; each product keeps its sorted word ids,
//! and each word its products with how often it occurs in each field.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::colour;
use crate::domain::Product;
use crate::query::term;

/// Keyword fields, in this order: title, description, category, colour, SKU, attributes.
pub const FIELDS: usize = 6;
/// The category's place among the [`FIELDS`].
const CATEGORY: usize = 2;
/// The colour's place among the [`FIELDS`].
const COLOUR: usize = 3;
/// BM25 weights of the fields: an occurrence in the title counts five times one in the
/// description; attributes as much as the colour.
const FIELD_WEIGHTS: [f64; FIELDS] = [5.0, 1.0, 3.0, 2.0, 3.0, 2.0];
/// The fields that name a product (all but the description).
pub const NAMING_FIELDS: [bool; FIELDS] = [true, false, true, true, true, true];
pub const ALL_FIELDS: [bool; FIELDS] = [true; FIELDS];
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;

/// A query word: its stem (plural ending dropped), whether it matches the catalog's words it
/// begins (from three letters on: "zip" finds "zipper", "vent" finds "ventilation", "hoo" typed
/// on the way to "hoodie"; a kind or colour word counts those that are not its inflections in
/// part, [`PREFIX_PART`]; a shade none: "tan" is not "tank"), the catalog words it also matches
/// as they are ([`Lexicon::query_terms`]), and the stems of the words typed as its alternatives
/// ("red or blue": "blue" for "red"), matched as it is.
#[derive(Debug, Clone)]
pub struct Term {
    pub stem: String,
    /// The word as typed (lower-cased), its plural ending kept: what a typo is measured on.
    pub typed: String,
    pub prefix: bool,
    pub kin: Vec<String>,
    pub or: Vec<String>,
}

/// Terms are the same whatever the number typed: "bag bags" is one.
impl PartialEq for Term {
    fn eq(&self, other: &Term) -> bool {
        (&self.stem, self.prefix, &self.kin, &self.or)
            == (&other.stem, other.prefix, &other.kin, &other.or)
    }
}

impl Eq for Term {}

impl Term {
    /// The term read as the catalog word `word` (a typo's [`Lexicon::correction`]): its
    /// singular is the stem.
    pub fn read_as(&mut self, word: &str) {
        self.stem = plural_stem(word).to_string();
    }

    /// A term of `stem` alone: matched as a prefix from three letters on.
    fn of_stem(stem: String) -> Term {
        Term {
            prefix: stem.chars().count() >= 3,
            typed: stem.clone(),
            stem,
            kin: Vec::new(),
            or: Vec::new(),
        }
    }
}

/// The query's words, each once, in order.
pub fn terms(text: &str) -> Vec<Term> {
    terms_of(words(text).map(|w| vec![w]))
}

/// [`terms`] without the function words ("for", "with", "the"), unless the text has nothing
/// else. Their weight as rare words would otherwise depend on how the catalog's texts are
/// written: a catalog of titles alone has "for" in a few products, which a query's "for"
/// then singles out. Words joined by "or" ("red or blue tank") are one term that either
/// satisfies.
pub fn content_terms(text: &str) -> Vec<Term> {
    let all: Vec<String> = words(text).collect();
    let content = |i: usize| all.get(i).is_some_and(|w| !is_function_word(w));
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut i = 0;
    while i < all.len() {
        if content(i) {
            let mut group = vec![all[i].clone()];
            while all.get(i + 1).is_some_and(|w| w == "or") && content(i + 2) {
                group.push(all[i + 2].clone());
                i += 2;
            }
            groups.push(group);
        }
        i += 1;
    }
    if groups.is_empty() {
        terms(text)
    } else {
        terms_of(groups.into_iter())
    }
}

/// Whether a word has a digit: a number, a size or a SKU, not a word to correct or a kind.
fn has_digits(w: &str) -> bool {
    w.chars().any(|c| c.is_ascii_digit())
}

/// NLTK's English stop words, less those that can name a product's property ("down", "off",
/// "up", "over", "out", "under").
fn is_function_word(word: &str) -> bool {
    use std::sync::OnceLock;
    static WORDS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    WORDS
        .get_or_init(|| {
            let keep = ["down", "off", "up", "over", "out", "under"];
            stop_words::get("en")
                .iter()
                .copied()
                .filter(|w| !keep.contains(w))
                .collect()
        })
        .contains(word)
}

/// A word without its plural ending ("bags" → "bag", "watches" → "watch").
fn plural_stem(w: &str) -> &str {
    if ["ches", "shes", "sses", "xes"]
        .iter()
        .any(|e| w.ends_with(e))
    {
        &w[..w.len() - 2]
    } else if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        &w[..w.len() - 1]
    } else {
        w
    }
}

/// Endings of a word's inflections (and a few of its closest derivations): a query word
/// matches the catalog words that are it with one of these ("zip": "zips", "zipper",
/// "zippered"; "hood": "hooded", "hoodie"), but not every word it begins ("red" is not
/// "reduced", "blue" not "bluetooth", "sleeve" not "sleeveless").
const INFLECTIONS: [&str; 14] = [
    "s", "es", "ed", "ing", "er", "ers", "ered", "est", "y", "ie", "ies", "ied", "ier", "iest",
];

/// Whether `word` is `stem` or `stem` inflected ([`INFLECTIONS`]), with its final consonant
/// doubled ("running") or, after a final "e", with "d", "r" or "rs" ("hiked", "hiker"). Stems
/// of under 3 letters match themselves only.
fn inflects(stem: &str, word: &str) -> bool {
    let Some(rest) = word.strip_prefix(stem) else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    if stem.chars().count() < 3 {
        return false;
    }
    if INFLECTIONS.contains(&rest) || stem.ends_with('e') && ["d", "r", "rs"].contains(&rest) {
        return true;
    }
    let last = stem.chars().last();
    let mut r = rest.chars();
    last.is_some_and(|c| c.is_alphabetic() && !"aeiou".contains(c))
        && r.next() == last
        && INFLECTIONS.contains(&r.as_str())
}

/// What a catalog word that a query word naming a kind or a colour only begins counts for in a
/// product's share of the query ([`Lexicon::names_a_field_value`]): a red product has "red"
/// more surely than one with a "reduced" price, a bra than a product of a "brand", a "blue" one
/// than a "bluetooth" one.
const PREFIX_PART: f32 = 0.5;

/// Terms of groups of words: each group's first word, with the others as its alternatives.
fn terms_of(groups: impl Iterator<Item = Vec<String>>) -> Vec<Term> {
    let mut out: Vec<Term> = Vec::new();
    for group in groups {
        let stem = plural_stem(&group[0]).to_string();
        let mut or: Vec<String> = Vec::new();
        for w in &group[1..] {
            let alt = plural_stem(w).to_string();
            if alt != stem && !or.contains(&alt) {
                or.push(alt);
            }
        }
        let t = Term {
            or,
            typed: group[0].clone(),
            ..Term::of_stem(stem)
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    pieces(text).map(|piece| {
        let mut w = String::new();
        normalise_into(piece, &mut w);
        w
    })
}

/// `piece` lower-cased and without Latin diacritics, in place of `word`'s text.
fn normalise_into(piece: &str, word: &mut String) {
    word.clear();
    word.extend(piece.chars().flat_map(char::to_lowercase).map(fold));
}

/// The runs of letters and digits of `text`, as written.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// A Latin letter without its diacritics ("é" → "e"); other characters as they are.
fn fold(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    let mut base = None;
    let mut marks_only = true;
    unicode_normalization::char::decompose_canonical(c, |d| {
        if base.is_none() {
            base = Some(d);
        } else if !unicode_normalization::char::is_combining_mark(d) {
            marks_only = false;
        }
    });
    match base {
        Some(b) if b != c && marks_only && (b as u32) < 0x250 => b,
        _ => c,
    }
}

/// How often a word occurs in each field of a product.
type Counts = [u16; FIELDS];
/// A product's words as ids, with their counts.
type Words = Vec<(u32, Counts)>;

pub struct Lexicon {
    vocabulary: Vec<String>,
    /// Per product, its sorted word ids.
    products: Vec<Vec<u32>>,
    /// Per word id, the products that have it and how often in each field.
    postings: Vec<Vec<(u32, Counts)>>,
    /// Per product, its number of words in all fields, repeats counted.
    lengths: Vec<u32>,
    /// The mean of `lengths` (BM25's average document length).
    mean_length: f64,
    /// Per word id, the products that have it in their category.
    in_categories: Vec<u32>,
    /// Per word id, whether some product has it in its colour.
    in_colours: Vec<bool>,
    /// Per word id, whether some product has it in its category's last part (its leaf).
    in_leaves: Vec<bool>,
    /// Words of products' categories that do not say what they are ([`other_kinds`]): product
    /// `pi`'s are `other_kinds[other_kinds_at[pi]..other_kinds_at[pi + 1]]`.
    other_kinds: Vec<u32>,
    other_kinds_at: Vec<u32>,
    /// The words that follow "no" or "non" in some product's text ("no-show", "non-slip").
    after_no: HashSet<String>,
}

/// What a word of a product's category that names a kind its title says it is not counts for
/// ([`other_kinds`]): the category still puts the product among those kinds.
const OTHER_KIND_PART: f32 = 0.5;
/// What separates the kinds a category leaf names, besides "and" ("Bras & Tanks").
const KIND_SEPARATORS: [char; 4] = ['&', ',', '+', ';'];

/// The words of a product's category leaf that name kinds it is not: where the leaf names
/// several kinds ("Bras & Tanks", "Shirts, Blouses") and the title names some of them
/// ("Bella Tank"), the words of the others ("bras"), where the product has them in its
/// category alone. Such a word counts [`OTHER_KIND_PART`] of its weight in the product's share
/// of a query, so "black bra" finds the leaf's bras before its black tanks, and its tanks
/// before products of other leaves. A title that names none of the kinds ("Maya Tunic")
/// leaves the product all of them. `words`: the product's word ids, sorted, with their counts
/// per field; `id` gives a word's id.
fn other_kinds(p: &Product, words: &Words, id: impl Fn(&str) -> Option<u32>) -> Vec<u32> {
    let leaf = p.category.rsplit('/').next().unwrap_or("");
    let separated =
        leaf.contains(KIND_SEPARATORS) || pieces(leaf).any(|w| w.eq_ignore_ascii_case("and"));
    if !separated {
        return Vec::new();
    }
    let words_of_leaf: Vec<String> = self::words(&leaf.replace(KIND_SEPARATORS, " and ")).collect();
    let kinds: Vec<Vec<String>> = words_of_leaf
        .split(|w| w == "and")
        .map(|k| {
            k.iter()
                .filter(|w| !is_function_word(w))
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|k| !k.is_empty())
        .collect();
    if kinds.len() < 2 {
        return Vec::new();
    }
    let title: Vec<String> = self::words(&p.title)
        .map(|w| plural_stem(&w).to_string())
        .collect();
    let named = |k: &Vec<String>| k.iter().any(|w| title.iter().any(|t| t == plural_stem(w)));
    if !kinds.iter().any(named) {
        return Vec::new();
    }
    let said: Vec<&String> = kinds.iter().filter(|k| named(k)).flatten().collect();
    let mut out: Vec<u32> = kinds
        .iter()
        .filter(|k| !named(k))
        .flatten()
        .filter(|w| !said.contains(w))
        .filter_map(|w| id(w))
        .filter(|&id| {
            words
                .binary_search_by_key(&id, |&(i, _)| i)
                .is_ok_and(|at| (0..FIELDS).all(|f| f == CATEGORY || words[at].1[f] == 0))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The id of the word `w` in the sorted `vocabulary`.
fn word_id(vocabulary: &[String], w: &str) -> Option<u32> {
    vocabulary
        .binary_search_by(|v| v.as_str().cmp(w))
        .ok()
        .map(|i| i as u32)
}

/// Ascending ids as runs of consecutive ones.
fn runs(ids: impl Iterator<Item = u32>) -> Vec<Range<u32>> {
    let mut out: Vec<Range<u32>> = Vec::new();
    for id in ids {
        match out.last_mut() {
            Some(r) if r.end == id => r.end += 1,
            _ => out.push(id..id + 1),
        }
    }
    out
}

impl Lexicon {
    pub fn build(products: &[Product]) -> Lexicon {
        use rayon::prelude::*;
        // Per chunk of products, its own vocabulary (each word allocated once per chunk, not
        // once per occurrence) and each product's words as ids into it with their counts.
        let chunks: Vec<(Vec<String>, Vec<Words>, HashSet<String>)> = products
            .par_chunks(2048)
            .map(|chunk| {
                let mut ids: HashMap<String, u32> = HashMap::new();
                let mut vocabulary: Vec<String> = Vec::new();
                let mut word = String::new();
                let mut seen: Vec<(u32, usize)> = Vec::new();
                let mut after_no: HashSet<String> = HashSet::new();
                let counted = chunk
                    .iter()
                    .map(|p| {
                        let attributes = crate::domain::descriptive_words(&p.attributes);
                        let fields = [
                            &p.title,
                            &p.description,
                            &p.category,
                            &p.color,
                            &p.sku,
                            &attributes,
                        ];
                        seen.clear();
                        for (f, text) in fields.iter().enumerate() {
                            let mut no = false;
                            let mut letter: Option<(char, usize)> = None;
                            for piece in pieces(text) {
                                normalise_into(piece, &mut word);
                                if no {
                                    after_no.insert(word.clone());
                                }
                                no = word == "no" || word == "non";
                                let at = piece.as_ptr() as usize - text.as_ptr() as usize;
                                let mut id_of = |w: &str| match ids.get(w) {
                                    Some(&id) => id,
                                    None => {
                                        let id = vocabulary.len() as u32;
                                        ids.insert(w.to_string(), id);
                                        vocabulary.push(w.to_string());
                                        id
                                    }
                                };
                                seen.push((id_of(&word), f));
                                // A letter hyphenated to the next word ("T-Shirt", "V-Neck") is
                                // also the two as one word ("tshirt"), as other catalogs write it.
                                if let Some((c, end)) = letter
                                    && text.get(end..at) == Some("-")
                                {
                                    seen.push((id_of(&format!("{c}{word}")), f));
                                }
                                let mut chars = word.chars();
                                letter = match (chars.next(), chars.next()) {
                                    (Some(c), None) if c.is_alphabetic() => {
                                        Some((c, at + piece.len()))
                                    }
                                    _ => None,
                                };
                            }
                        }
                        seen.sort_unstable();
                        let mut out: Words = Vec::new();
                        for &(id, f) in &seen {
                            match out.last_mut() {
                                Some((last, counts)) if *last == id => {
                                    counts[f] = counts[f].saturating_add(1)
                                }
                                _ => {
                                    let mut counts = [0; FIELDS];
                                    counts[f] = 1;
                                    out.push((id, counts));
                                }
                            }
                        }
                        out
                    })
                    .collect();
                (vocabulary, counted, after_no)
            })
            .collect();
        let after_no: HashSet<String> = chunks
            .iter()
            .flat_map(|(_, _, a)| a.iter().cloned())
            .collect();
        // One sorted vocabulary; each chunk's ids renumbered into it, each product's sorted.
        let mut all: Vec<&str> = chunks
            .iter()
            .flat_map(|(v, ..)| v.iter().map(String::as_str))
            .collect();
        all.par_sort_unstable();
        all.dedup();
        let vocabulary: Vec<String> = all.into_iter().map(str::to_string).collect();
        let counted: Vec<Words> = chunks
            .into_par_iter()
            .flat_map_iter(|(local, counted, _)| {
                let global: Vec<u32> = local
                    .iter()
                    .map(|w| vocabulary.binary_search(w).unwrap_or_else(|i| i) as u32)
                    .collect();
                counted.into_iter().map(move |mut ws| {
                    for (id, _) in &mut ws {
                        *id = global[*id as usize];
                    }
                    ws.sort_unstable_by_key(|&(id, _)| id);
                    ws
                })
            })
            .collect();
        let ids: Vec<Vec<u32>> = counted
            .par_iter()
            .map(|ws| ws.iter().map(|&(id, _)| id).collect())
            .collect();
        let mut postings: Vec<Vec<(u32, Counts)>> = vec![Vec::new(); vocabulary.len()];
        for (pi, ws) in counted.iter().enumerate() {
            for &(id, counts) in ws {
                postings[id as usize].push((pi as u32, counts));
            }
        }
        let lengths: Vec<u32> = counted
            .iter()
            .map(|ws| {
                ws.iter()
                    .map(|(_, c)| c.iter().map(|&n| u32::from(n)).sum::<u32>())
                    .sum()
            })
            .collect();
        let mean_length =
            lengths.iter().map(|&l| f64::from(l)).sum::<f64>() / products.len().max(1) as f64;
        // One pass over each word's products for both.
        let (in_categories, in_colours): (Vec<u32>, Vec<bool>) = postings
            .iter()
            .map(|ps| {
                ps.iter().fold((0, false), |(n, colour), (_, c)| {
                    (n + u32::from(c[CATEGORY] > 0), colour || c[COLOUR] > 0)
                })
            })
            .unzip();
        let id = |w: &str| word_id(&vocabulary, w);
        let mut in_leaves = vec![false; vocabulary.len()];
        let leaves: HashSet<&str> = products
            .iter()
            .map(|p| p.category.rsplit('/').next().unwrap_or(""))
            .collect();
        for w in leaves.into_iter().flat_map(words) {
            if let Some(i) = id(&w) {
                in_leaves[i as usize] = true;
            }
        }
        let per_product: Vec<Vec<u32>> = products
            .par_iter()
            .zip(&counted)
            .map(|(p, ws)| other_kinds(p, ws, id))
            .collect();
        let mut other_kinds_at = Vec::with_capacity(products.len() + 1);
        other_kinds_at.push(0u32);
        for ws in &per_product {
            other_kinds_at.push(other_kinds_at[other_kinds_at.len() - 1] + ws.len() as u32);
        }
        let other_kinds = per_product.concat();
        Lexicon {
            vocabulary,
            products: ids,
            postings,
            lengths,
            mean_length: mean_length.max(1e-9),
            in_categories,
            in_colours,
            in_leaves,
            other_kinds,
            other_kinds_at,
            after_no,
        }
    }

    /// Whether some product writes "no" or "non" before the word `w` or its plural ("no-show",
    /// "non-slip"): a query's "no show socks" asks for them.
    pub fn writes_after_no(&self, w: &str) -> bool {
        let stem = plural_stem(w);
        [w.to_string(), stem.to_string(), format!("{stem}s")]
            .iter()
            .any(|v| self.after_no.contains(v))
    }

    /// The word ids a term matches: those of its stem ([`Lexicon::own`]) and of its
    /// alternatives, and its kin.
    fn ranges(&self, t: &Term) -> Vec<Range<u32>> {
        self.ranges_by(t, |stem| vec![self.own(stem, t.prefix)])
    }

    /// As [`Lexicon::ranges`], with the stem's and alternatives' ids from `own`.
    fn ranges_by(&self, t: &Term, own: impl Fn(&str) -> Vec<Range<u32>>) -> Vec<Range<u32>> {
        let mut out = own(&t.stem);
        for alt in &t.or {
            out.extend(own(alt));
        }
        for w in &t.kin {
            if let Some(id) = word_id(&self.vocabulary, w)
                && !out.iter().any(|r| r.contains(&id))
            {
                out.push(id..id + 1);
            }
        }
        out
    }

    /// The ids of `stem` (a range of the sorted vocabulary): the words it begins where
    /// `prefix`, else the word itself.
    fn own(&self, stem: &str, prefix: bool) -> Range<u32> {
        let lo = self.vocabulary.partition_point(|w| w.as_str() < stem);
        let hi = if prefix {
            lo + self.vocabulary[lo..].partition_point(|w| w.starts_with(stem))
        } else {
            lo + usize::from(self.vocabulary.get(lo).is_some_and(|w| w == stem))
        };
        lo as u32..hi as u32
    }

    /// The ids of the words a term matches exactly ([`inflects`]), and of the other words it
    /// begins (where it is matched as a prefix), as runs of the sorted vocabulary.
    fn exact_and_begun(&self, t: &Term) -> (Vec<Range<u32>>, Vec<Range<u32>>) {
        let split = |stem: &str, exact: bool| runs(self.inflections(stem, t.prefix, exact));
        let begun = std::iter::once(&t.stem)
            .chain(&t.or)
            .flat_map(|stem| split(stem, false))
            .collect();
        (self.ranges_by(t, |stem| split(stem, true)), begun)
    }

    /// The ids of [`Lexicon::own`]'s words that are `stem`'s inflections ([`inflects`]), or,
    /// not `exact`, those that are not.
    fn inflections(&self, stem: &str, prefix: bool, exact: bool) -> impl Iterator<Item = u32> {
        self.own(stem, prefix)
            .filter(move |&id| inflects(stem, &self.vocabulary[id as usize]) == exact)
    }

    /// Whether some product has the term's word (or, matched as a prefix, a word it begins). Of
    /// a word typed as a plural, the singular must be the catalog's, or the word as typed
    /// begin one: "baggs" is not known for the "baggy" that "bagg" begins.
    fn known(&self, t: &Term) -> bool {
        if t.typed == t.stem {
            return !self.own(&t.stem, t.prefix).is_empty();
        }
        !self.own(&t.stem, false).is_empty() || !self.own(&t.typed, t.prefix).is_empty()
    }

    /// Whether product `pi` has a word the term matches.
    fn has(&self, pi: usize, ranges: &[Range<u32>]) -> bool {
        let ids = &self.products[pi];
        ranges.iter().any(|r| {
            let i = ids.partition_point(|&id| id < r.start);
            ids.get(i).is_some_and(|&id| id < r.end)
        })
    }

    /// How the query's words weigh: inverse document frequency over `population` (a sample of
    /// the catalog), as BM25 computes it; a word that names a kind of product
    /// ([`Lexicon::names_a_kind`]) weighs at least as much as the heaviest other word, so that no
    /// one modifier outweighs it ("hoodies for gym": a gym tee is not what was asked for,
    /// however rare "gym" is; the other signals tell a hoodie from a gym tee).
    pub fn weigh(&self, terms: &[Term], population: &[usize]) -> Weighed {
        let n = population.len() as f32;
        // Only a word that names a category or a colour is exact about the words it begins.
        let (ranges, mut partial): (Vec<_>, Vec<_>) = terms
            .iter()
            .map(|t| {
                let (exact, begun) = self.exact_and_begun(t);
                if !begun.is_empty() && self.names_a_field_value(&exact) {
                    (exact, begun)
                } else {
                    (self.ranges(t), Vec::new())
                }
            })
            .unzip();
        let mut idf: Vec<f32> = ranges
            .iter()
            .zip(&partial)
            .map(|(r, p)| {
                let df = population
                    .iter()
                    .filter(|&&pi| self.has(pi, r) || self.has(pi, p))
                    .count() as f32;
                ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
            })
            .collect();
        // Near colours count in part, and not in how rare the word is.
        for (t, p) in terms.iter().zip(&mut partial) {
            p.extend(
                self.colour_kin(t)
                    .into_iter()
                    .filter_map(|w| word_id(&self.vocabulary, w).map(|id| id..id + 1)),
            );
        }
        let kinds: Vec<bool> = terms
            .iter()
            .zip(&ranges)
            .map(|(t, r)| self.names_a_kind(t, r))
            .collect();
        let heaviest_other = idf
            .iter()
            .zip(&kinds)
            .filter(|&(_, &kind)| !kind)
            .map(|(&w, _)| w)
            .fold(0f32, f32::max);
        for (w, _) in idf.iter_mut().zip(&kinds).filter(|&(_, &kind)| kind) {
            *w = w.max(heaviest_other);
        }
        let leaves = kinds
            .iter()
            .zip(&ranges)
            .map(|(&kind, r)| {
                kind && r
                    .iter()
                    .flat_map(Range::clone)
                    .any(|id| self.in_leaves[id as usize])
            })
            .collect();
        Weighed {
            ranges,
            partial,
            idf,
            kinds,
            leaves,
        }
    }

    /// Whether a word of `ranges` (a term's, [`Lexicon::ranges`]) is in some product's
    /// category or colour: a kind or a colour the catalog names, which the words it begins
    /// are not ("bra" is not "brand", "red" not "reduced", "rug" not "rugged"). Other words
    /// say much the same as the words they begin ("vent" and "ventilation", "seam" and
    /// "seamless").
    fn names_a_field_value(&self, ranges: &[Range<u32>]) -> bool {
        ranges
            .iter()
            .flat_map(Range::clone)
            .any(|id| self.in_categories[id as usize] > 0 || self.in_colours[id as usize])
    }

    /// Whether the term names a kind of product: it is, as written or in the plural, a word
    /// without digits of the categories of some products but of fewer than half of them (a word
    /// of most categories, "apparel", names no kind). Words it matches only as a prefix do not
    /// count ("jacks" is not "jackets"). `ranges` are the term's word ids ([`Lexicon::ranges`]).
    fn names_a_kind(&self, t: &Term, ranges: &[Range<u32>]) -> bool {
        // A number names no kind, though categories have them ("3/4ths", "2-in-1 Laptops").
        if has_digits(&t.stem) {
            return false;
        }
        let in_categories = ranges
            .iter()
            .flat_map(Range::clone)
            .filter(|&id| {
                let w = &self.vocabulary[id as usize];
                plural_stem(w) == t.stem
                    || t.kin.contains(w)
                    || t.or.iter().any(|o| plural_stem(w) == o)
            })
            .map(|id| self.in_categories[id as usize])
            .max()
            .unwrap_or(0);
        in_categories > 0 && (in_categories as usize) * 2 < self.products.len()
    }

    /// The share of the query's word weight that product `pi` has, in [0, 1] (a kind its title
    /// says it is not counting [`OTHER_KIND_PART`], a word only begun [`PREFIX_PART`]).
    pub fn coverage(&self, pi: usize, w: &Weighed) -> f32 {
        self.coverage_and_kinds(pi, w).0
    }

    /// [`Lexicon::coverage`], the share of the weight of the query's words that name a kind
    /// ([`Lexicon::names_a_kind`]) that product `pi` has, as that counts it (not the words they
    /// only begin; None when no word names one), and whether the query names kinds of which it
    /// has none: none of those its categories' leaves name, where it names some ("women rust
    /// churidar": a women's patiala is for whom it asks but not what), else none at all.
    pub fn coverage_and_kinds(&self, pi: usize, w: &Weighed) -> (f32, Option<f32>, bool) {
        let (mut total, mut had) = (0f32, 0f32);
        let (mut kinds_total, mut kinds_had) = (0f32, 0f32);
        let (mut leaves_asked, mut has_a_leaf) = (false, false);
        let words = w.ranges.iter().zip(&w.partial).zip(&w.idf);
        for ((((r, p), &idf), &kind), &leaf) in words.zip(&w.kinds).zip(&w.leaves) {
            let part = self.has_as_kind(pi, r, kind);
            total += idf;
            had += if part == 0.0 && self.has(pi, p) {
                idf * PREFIX_PART
            } else {
                idf * part
            };
            if kind {
                kinds_total += idf;
                kinds_had += idf * part;
            }
            if leaf {
                leaves_asked = true;
                has_a_leaf |= part > 0.0;
            }
        }
        let share = if total > 0.0 { had / total } else { 0.0 };
        let kindless = kinds_total > 0.0
            && if leaves_asked {
                !has_a_leaf
            } else {
                kinds_had <= 0.0
            };
        (
            share,
            (kinds_total > 0.0).then(|| kinds_had / kinds_total),
            kindless,
        )
    }

    /// How much of a word in `ranges` product `pi` has: 1, [`OTHER_KIND_PART`] where it has
    /// only a kind its title says it is not ([`other_kinds`]) or, for a word that names a kind
    /// (`kind`), has it only outside its category where its category does not name it, or names
    /// it as a kind its title says it is not (a tee's "short sleeves" do not make it shorts, nor
    /// "pairs well with yoga pants" a pant, nor a "Tank" of "Bras & Tanks" "worn over your
    /// sports bra" a bra, nor "Rocia Sandals" filed under "Heels" one of the sandals), or 0.
    fn has_as_kind(&self, pi: usize, ranges: &[Range<u32>], kind: bool) -> f32 {
        let not = &self.other_kinds
            [self.other_kinds_at[pi] as usize..self.other_kinds_at[pi + 1] as usize];
        if not.is_empty() && !kind {
            return f32::from(u8::from(self.has(pi, ranges)));
        }
        let counts = |id: u32| {
            let ps = &self.postings[id as usize];
            ps.binary_search_by_key(&(pi as u32), |&(p, _)| p)
                .ok()
                .map(|at| ps[at].1)
        };
        let ids = &self.products[pi];
        let mine = || {
            ranges.iter().flat_map(move |r| {
                let i = ids.partition_point(|&id| id < r.start);
                ids[i..].iter().copied().take_while(move |&id| id < r.end)
            })
        };
        let in_category_field = |id: u32| counts(id).is_some_and(|c| c[CATEGORY] > 0);
        // Asked only of a word the product has outside its category alone: whether its category
        // names the kind (in another form), not as one its title says it is not.
        let in_category = || mine().any(|id| in_category_field(id) && !not.contains(&id));
        let mut part = 0f32;
        for id in mine() {
            let outside_category = kind && !in_category_field(id);
            let whole = if outside_category {
                in_category()
            } else {
                !not.contains(&id)
            };
            if whole {
                return 1.0;
            }
            part = OTHER_KIND_PART;
        }
        part
    }

    /// Whether some product has one of the terms, in any field ([`Lexicon::matching`] is not
    /// empty), without gathering the products.
    pub fn finds_any(&self, terms: &[Term]) -> bool {
        terms
            .iter()
            .flat_map(|t| self.ranges(t))
            .flatten()
            .any(|id| !self.postings[id as usize].is_empty())
    }

    /// Whether some product has a word of `t` and a word of one of `others`.
    pub fn together(&self, t: &Term, others: &[Term]) -> bool {
        let theirs: Vec<Vec<Range<u32>>> = others.iter().map(|o| self.ranges(o)).collect();
        self.ranges(t)
            .into_iter()
            .flatten()
            .flat_map(|id| &self.postings[id as usize])
            .any(|&(pi, _)| theirs.iter().any(|r| self.has(pi as usize, r)))
    }

    /// Products with any of the terms in any field.
    pub fn matching(&self, terms: &[Term]) -> Vec<usize> {
        let mut out: Vec<usize> = terms
            .iter()
            .flat_map(|t| self.ranges(t))
            .flatten()
            .flat_map(|id| {
                self.postings[id as usize]
                    .iter()
                    .map(|&(pi, _)| pi as usize)
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// BM25 of each product with any of the terms in `fields`, as SQLite's FTS5 computes it for
    /// an OR of the terms restricted to those fields (`bm25()` with the field weights above):
    /// per term, `idf · f · (k1 + 1) / (f + k1 · (1 - b + b · len / mean len))`, with `f` the
    /// weighted count of its occurrences in those fields, `len` the product's words in all
    /// fields, and `idf = ln((n - hits + 0.5) / (hits + 0.5))` (at least 1e-6) over the whole
    /// catalog. The best `limit`, best first (ties by product order).
    pub fn bm25(&self, terms: &[Term], fields: [bool; FIELDS], limit: usize) -> Vec<(usize, f64)> {
        let n = self.products.len();
        if n == 0 || limit == 0 {
            return Vec::new();
        }
        let mut score = vec![0f64; n];
        let mut freq = vec![0f64; n];
        let mut scored: Vec<usize> = Vec::new();
        let mut hit: Vec<usize> = Vec::new();
        for t in terms {
            for id in self.ranges(t).into_iter().flatten() {
                for &(pi, counts) in &self.postings[id as usize] {
                    let f: f64 = (0..FIELDS)
                        .filter(|&k| fields[k])
                        .map(|k| FIELD_WEIGHTS[k] * f64::from(counts[k]))
                        .sum();
                    if f > 0.0 {
                        let pi = pi as usize;
                        if freq[pi] == 0.0 {
                            hit.push(pi);
                        }
                        freq[pi] += f;
                    }
                }
            }
            let hits = hit.len() as f64;
            let idf = (((n as f64) - hits + 0.5) / (hits + 0.5)).ln().max(1e-6);
            for &pi in &hit {
                let f = freq[pi];
                let norm = 1.0 - BM25_B + BM25_B * f64::from(self.lengths[pi]) / self.mean_length;
                if score[pi] == 0.0 {
                    scored.push(pi);
                }
                score[pi] += idf * f * (BM25_K1 + 1.0) / (f + BM25_K1 * norm);
                freq[pi] = 0.0;
            }
            hit.clear();
        }
        let mut out: Vec<(usize, f64)> = scored.into_iter().map(|pi| (pi, score[pi])).collect();
        let order = |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if out.len() > limit {
            out.select_nth_unstable_by(limit - 1, order);
            out.truncate(limit);
        }
        out.sort_unstable_by(order);
        out
    }
}

/// How many times as many products a typo's correction must have as the words the typed term
/// begins, where it begins only words that name no kind or colour ([`Lexicon::correction`]).
const FAR_MORE: usize = 10;

/// How many typos a query word of `len` letters may have to be corrected: none up to 3
/// letters, one from 4, two from 8 (between the defaults of Typesense, 4 and 7, and
/// Meilisearch, 5 and 9; a word's plural "s" is already dropped here).
fn typos_allowed(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

impl Lexicon {
    /// The catalog word a query term that no product has was most likely meant to be: the
    /// closest within its allowed typos (optimal string alignment distance: a swap of two
    /// letters is one typo) that begins with the same letter (or swaps the first two) and is
    /// not the start of the typed word, ties to the word more products have in a field that
    /// names them (any but the description: shoppers type what products are called, so "wach"
    /// is "watch", not the "wash" of care labels), then to the word more products have. A word
    /// typed as a plural is measured with its ending too, against the catalog's words as they
    /// are: "watvhes" is one typo from "watches" (two from "watch"), and "bahs" has the four
    /// letters that allow one ("bags"). None for a term the catalog has,
    /// for a short one, and for one with digits (a SKU or a size is not misspelt). A term the
    /// catalog has only as the start of words that name no kind or colour is corrected only to
    /// a word that names one, in [`FAR_MORE`] times as many products: "blak" begins the brand
    /// "Blake" of one product, and was "black"; "jacke" begins "jacket", a kind, and is left to
    /// find it.
    pub fn correction(&self, t: &Term) -> Option<String> {
        let mut forms = vec![t.stem.as_str()];
        if t.typed != t.stem {
            forms.push(t.typed.as_str());
        }
        forms.retain(|f| typos_allowed(f.chars().count()) > 0);
        if forms.is_empty() || has_digits(&t.stem) {
            return None;
        }
        let typed = if t.typed == t.stem { &t.stem } else { &t.typed };
        let begun = self.own(typed, t.prefix);
        let known = self.known(t);
        let begun_only = known
            && self.own(&t.stem, false).is_empty()
            && self.own(typed, false).is_empty()
            && !self.names_a_field_value(std::slice::from_ref(&begun));
        if known && !begun_only {
            return None;
        }
        let mut best: Option<(usize, Reverse<usize>, Reverse<usize>, usize)> = None;
        for (id, w) in self.vocabulary.iter().enumerate() {
            if has_digits(w) {
                continue;
            }
            let Some(d) = forms.iter().filter_map(|f| typo_distance(f, w)).min() else {
                continue;
            };
            let naming = self.postings[id]
                .iter()
                .filter(|(_, c)| c.iter().zip(NAMING_FIELDS).any(|(&n, f)| f && n > 0))
                .count();
            let key = (d, Reverse(naming), Reverse(self.postings[id].len()), id);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        let (.., id) = best?;
        if begun_only {
            let begun_products: usize = begun.map(|b| self.postings[b as usize].len()).sum();
            let at = id as u32;
            if !self.names_a_field_value(std::slice::from_ref(&(at..at + 1)))
                || self.postings[id].len() < FAR_MORE * begun_products.max(1)
            {
                return None;
            }
        }
        Some(self.vocabulary[id].clone())
    }
}

/// The typos between a typed word and a catalog word `w`, where they are within those the
/// typed word's length allows, `w` begins with the same letter (or swaps the first two) and is
/// not the start of the typed word (the "park" of "parka" is another word).
fn typo_distance(typed: &str, w: &str) -> Option<usize> {
    let max = typos_allowed(typed.chars().count());
    if w.len().abs_diff(typed.len()) > max || typed.starts_with(w) {
        return None;
    }
    let (mut t, mut c) = (typed.chars(), w.chars());
    let (first, second) = (t.next(), t.next());
    let (a, b) = (c.next(), c.next());
    if a != first && (a, b) != (second, first) {
        return None;
    }
    Some(strsim::osa_distance(typed, w)).filter(|&d| d <= max)
}

/// Two ways of writing one word: English nouns whose plural is not the singular with "s" or
/// "es", the words shops use for women's and men's goods, British and American spellings of
/// words that name products or their properties, and units and their abbreviations.
const VARIANTS: [(&str, &str); 45] = [
    ("lady", "woman"),
    ("ladies", "women"),
    ("gentleman", "man"),
    ("gentlemen", "men"),
    ("man", "men"),
    ("woman", "women"),
    ("child", "children"),
    ("person", "people"),
    ("foot", "feet"),
    ("tooth", "teeth"),
    ("mouse", "mice"),
    ("goose", "geese"),
    ("knife", "knives"),
    ("wife", "wives"),
    ("life", "lives"),
    ("leaf", "leaves"),
    ("shelf", "shelves"),
    ("scarf", "scarves"),
    ("half", "halves"),
    ("loaf", "loaves"),
    ("wolf", "wolves"),
    ("calf", "calves"),
    ("thief", "thieves"),
    ("hoof", "hooves"),
    ("grey", "gray"),
    ("colour", "color"),
    ("jewellery", "jewelry"),
    ("aluminium", "aluminum"),
    ("fibre", "fiber"),
    ("centre", "center"),
    ("pyjama", "pajama"),
    ("cosy", "cozy"),
    ("organiser", "organizer"),
    ("favourite", "favorite"),
    ("moisturiser", "moisturizer"),
    ("ft", "foot"),
    ("ft", "feet"),
    ("oz", "ounce"),
    ("lb", "pound"),
    ("cm", "centimeter"),
    ("mm", "millimeter"),
    ("ml", "milliliter"),
    ("litre", "liter"),
    ("metre", "meter"),
    ("centimetre", "centimeter"),
];

/// `text` with each number run into its unit written apart ("65cm" → "65 cm", "2.5l" → "2.5 l"),
/// so that the unit finds its other ways of writing ([`VARIANTS`]: "10ft" finds "10 foot"); where
/// the catalog writes them together, the two find that word again ([`Lexicon::joined`]).
fn units_apart(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            let at = w
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
                .unwrap_or(w.len());
            let unit = &w[at..];
            if at > 0
                && w.starts_with(|c: char| c.is_ascii_digit())
                && !unit.is_empty()
                && unit.chars().all(char::is_alphabetic)
            {
                format!("{} {unit}", &w[..at])
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The other number of a word whose plural ends in "ies" after a consonant, which a prefix of
/// one does not match in the other: "battery" → "batteries", "batterie" (the stem of
/// "batteries") → "battery". ("hoodie" → "hoody" too, which a catalog may have.)
fn y_plural_counterpart(stem: &str) -> Option<String> {
    if let Some(base) = stem.strip_suffix("ie") {
        return (base.chars().count() >= 2).then(|| format!("{base}y"));
    }
    let base = stem.strip_suffix('y')?;
    let consonant = base.chars().last().is_some_and(|c| !"aeiou".contains(c));
    (base.chars().count() >= 2 && consonant).then(|| format!("{base}ies"))
}

/// The other ways of writing a term's word ([`VARIANTS`]), from its stem ("women" → "woman"
/// and "ladies", "knive" (of "knives") → "knife", "colour" → "color").
fn variants(stem: &str) -> impl Iterator<Item = &'static str> + '_ {
    VARIANTS.iter().filter_map(move |&(a, b)| {
        let is = |w: &str| stem == w || w.strip_suffix('s') == Some(stem);
        if is(a) {
            Some(b)
        } else if is(b) {
            Some(a)
        } else {
            None
        }
    })
}

impl Lexicon {
    /// A query's keyword terms: [`content_terms`] (after [`Lexicon::kinds_either`]), each with
    /// its kin: the catalog's words of its root ([`Lexicon::same_root`]), its other number where
    /// the plural ends in "ies" ("accessory" finds "accessories", and back), the other ways of
    /// writing it ([`VARIANTS`]) where the catalog has those more often ("woman" finds "women",
    /// "grey" finds "gray"), for a shade no product has, the catalog's colours it is a shade of
    /// ([`Lexicon::colours_of_shade`]: "violet" finds "purple"), and the catalog's one word for it
    /// and a neighbouring word ([`Lexicon::joined`]: "sweat shirt" finds "sweatshirt" as well as
    /// "sweat" and "shirt").
    pub fn query_terms(&self, text: &str) -> Vec<Term> {
        let text = self.kinds_either(&self.for_whom(&units_apart(text)));
        let all: Vec<String> = words(&text).collect();
        let joins: Vec<(&str, &str, Vec<String>)> = all
            .windows(2)
            .filter_map(|w| Some((w[0].as_str(), w[1].as_str(), self.joined(&w[0], &w[1])?)))
            .collect();
        let mut terms = content_terms(&text);
        // A single letter the catalog writes joined to the next word ("T-Shirt", "Tshirt") is,
        // with it, a word of the query ("tshirt"), though as a word alone ("don't") it is a
        // function word: without it "t-shirt" asks for a shirt.
        for (a, b, _) in &joins {
            if a.chars().count() == 1 && is_function_word(a) {
                let at = terms
                    .iter()
                    .position(|t| t.stem == plural_stem(b))
                    .unwrap_or(terms.len());
                terms.insert(
                    at,
                    Term::of_stem(plural_stem(&format!("{a}{b}")).to_string()),
                );
            }
        }
        for t in &mut terms {
            t.kin = self.same_root(t);
            if let Some(other) = y_plural_counterpart(&t.stem)
                && self.products_with(&other) > 0
            {
                t.kin.push(other);
            }
            let typed = self.products_with_term(t);
            for other in variants(&t.stem) {
                if self.products_with(other) > typed {
                    let plural = format!("{other}s");
                    t.kin.push(other.to_string());
                    if self.products_with(&plural) > 0 {
                        t.kin.push(plural);
                    }
                }
            }
            if !colour::families(&t.stem).is_empty() {
                // A shade is a whole word: "tan" does not begin "tank".
                t.prefix = false;
                if self.products_with_term(t) == 0 {
                    t.kin
                        .extend(self.colours_of_shade(t).into_iter().map(String::from));
                }
            }
            for (a, b, forms) in &joins {
                if plural_stem(a) == t.stem || plural_stem(b) == t.stem {
                    t.kin.extend(forms.iter().cloned());
                }
            }
            let mut seen = std::collections::HashSet::new();
            t.kin.retain(|k| seen.insert(k.clone()));
        }
        terms
    }

    /// `text` with "for her" and "for him" read as "for women" and "for men" (or "woman",
    /// "womens", "ladies", "man", "mens": the first form the catalog has), which is how
    /// catalogs say whom a product is for; unchanged where the catalog has none.
    fn for_whom(&self, text: &str) -> String {
        let mut all: Vec<&str> = text.split_whitespace().collect();
        for i in 1..all.len() {
            let forms: &[&'static str] = match term(all[i]).as_str() {
                "her" => &["women", "woman", "womens", "ladies"],
                "him" => &["men", "man", "mens"],
                _ => continue,
            };
            if term(all[i - 1]) == "for"
                && let Some(&form) = forms.iter().find(|f| self.products_with(f) > 0)
            {
                all[i] = form;
            }
        }
        all.join(" ")
    }

    /// `text` with "and" ("&", "/") between two words that name kinds of product read as "or":
    /// "tees and tanks", "bags & backpacks", "tee/tank" ask for either, as no product is both.
    /// Between other words "and" stays ("black and white tee": both colours).
    fn kinds_either(&self, text: &str) -> String {
        let spaced = text.replace(['&', '/'], " and ");
        let mut all: Vec<&str> = spaced.split_whitespace().collect();
        let kind = |w: &str| match terms(w).as_slice() {
            [t] => self.names_a_kind(t, &self.ranges(t)),
            _ => false,
        };
        for i in 1..all.len().saturating_sub(1) {
            if all[i].eq_ignore_ascii_case("and") && kind(all[i - 1]) && kind(all[i + 1]) {
                all[i] = "or";
            }
        }
        all.join(" ")
    }

    /// The catalog's words for two neighbouring query words written as one ("sweat shirt":
    /// "sweatshirt", "back packs": "backpacks" and "backpack", "65 cm": "65cm", "t shirt":
    /// "tshirt"), where neither is a function word, unless the first is a single letter, and
    /// only the first, a number, has digits.
    fn joined(&self, a: &str, b: &str) -> Option<Vec<String>> {
        let plain = |w: &str| !is_function_word(w) && !has_digits(w);
        let letter = |w: &str| w.chars().count() == 1 && w.chars().all(char::is_alphabetic);
        let number = |w: &str| w.chars().all(|c| c.is_ascii_digit());
        // Words, or a number and its unit ("65 cm": "65cm").
        if !plain(b) || !(plain(a) || letter(a) || number(a)) {
            return None;
        }
        let whole = format!("{a}{b}");
        let stem = plural_stem(&whole);
        let mut forms: Vec<String> = [
            whole.clone(),
            stem.to_string(),
            format!("{stem}s"),
            format!("{stem}es"),
        ]
        .into_iter()
        .filter(|w| self.products_with(w) > 0)
        .collect();
        forms.dedup();
        (!forms.is_empty()).then_some(forms)
    }

    /// Where a query term no product has is two catalog words run together ("tshirt",
    /// "yogastrap"): the two words, the pair that the most products have both of (at least
    /// one: a catalog that never has "time" and "piece" together does not read "timepiece" as
    /// them). The first may be a single letter (as in "t-shirt"); the second has at least two
    /// and is no function word. None for a word with digits or one of under 4 letters.
    pub fn split(&self, t: &Term) -> Option<(String, String)> {
        let w = &t.stem;
        if w.chars().count() < 4 || has_digits(w) || self.known(t) {
            return None;
        }
        let id = |v: &str| word_id(&self.vocabulary, v);
        w.char_indices()
            .skip(1)
            .filter_map(|(at, _)| {
                let (a, b) = w.split_at(at);
                if b.chars().count() < 2 || is_function_word(b) {
                    return None;
                }
                let first = id(a)?;
                let second: Vec<Range<u32>> = [b.to_string(), format!("{b}s"), format!("{b}es")]
                    .iter()
                    .filter_map(|v| id(v))
                    .map(|i| i..i + 1)
                    .collect();
                let both = self.postings[first as usize]
                    .iter()
                    .filter(|&&(pi, _)| self.has(pi as usize, &second))
                    .count();
                (both > 0).then(|| (both, a.to_string(), b.to_string()))
            })
            .max_by_key(|(n, _, _)| *n)
            .map(|(_, a, b)| (a, b))
    }

    /// The catalog's colours that a shade no product's colour names is a shade of
    /// ([`colour::families`], as some product's colour names them): "navy" finds the catalog's
    /// "Blue" (as well as a description's "navy"). Empty where a product's colour names the
    /// shade, or none names its families.
    pub fn colours_of_shade(&self, t: &Term) -> Vec<&'static str> {
        let families = colour::families(&t.stem);
        if families.is_empty() || self.is_colour(&t.stem) || self.is_colour(&t.typed) {
            return Vec::new();
        }
        families
            .iter()
            .flat_map(|f| colour::spellings(f))
            .copied()
            .filter(|w| self.is_colour(w))
            .collect()
    }

    /// The catalog's colours that a term's word is near and which count in part
    /// ([`PREFIX_PART`]): for a shade some product has but no product's colour names, the
    /// colours it is a shade of (where none has it, they are its kin and count in full: "navy"
    /// finds "Blue" products after the one described as navy); for a colour, and for those a
    /// shade is read as, the shades of it that products' colours name ([`colour::shades`]:
    /// "purple" and "violet" find "Lavender" products after the purple ones).
    fn colour_kin(&self, t: &Term) -> Vec<&'static str> {
        let families = self.colours_of_shade(t);
        let shades: Vec<&'static str> = std::iter::once(t.stem.as_str())
            .chain(families.iter().copied())
            .flat_map(colour::shades)
            .filter(|w| *w != t.stem && self.is_colour(w))
            .collect();
        let mut near = if self.products_with_term(t) > 0 {
            families
        } else {
            Vec::new()
        };
        near.extend(shades);
        near
    }

    /// Whether some product's colour has the word `w`.
    fn is_colour(&self, w: &str) -> bool {
        word_id(&self.vocabulary, w).is_some_and(|id| self.in_colours[id as usize])
    }

    /// How many products have the word `w` (as it is, not as a prefix).
    fn products_with(&self, w: &str) -> usize {
        word_id(&self.vocabulary, w).map_or(0, |id| self.postings[id as usize].len())
    }

    /// How many products have the term's own stem or an inflection of it (at most: a product
    /// with two such words counts twice).
    fn products_with_term(&self, t: &Term) -> usize {
        self.inflections(&t.stem, true, true)
            .map(|id| self.postings[id as usize].len())
            .sum()
    }

    /// The catalog words of the same root as a query term that no product has, by the Snowball
    /// English stemmer ("hiking" finds "hike" and "hikes", "commuting" finds "commuter"), most
    /// products first. None for a word of under 4 letters or one with digits.
    pub fn same_root(&self, t: &Term) -> Vec<String> {
        if t.stem.chars().count() < 4 || has_digits(&t.stem) || self.known(t) {
            return Vec::new();
        }
        let stemmer = rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English);
        let root = stemmer.stem(&t.stem);
        // Words of one root share its first three letters.
        let head: String = root.chars().take(3).collect();
        let near = self.own(&head, true);
        let mut kin: Vec<(usize, &String)> = near
            .map(|id| {
                (
                    self.postings[id as usize].len(),
                    &self.vocabulary[id as usize],
                )
            })
            .filter(|(_, w)| !has_digits(w) && stemmer.stem(w) == root)
            .collect();
        kin.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        kin.into_iter().map(|(_, w)| w.clone()).collect()
    }
}

/// A query's words as word-id ranges with their weights.
pub struct Weighed {
    ranges: Vec<Vec<Range<u32>>>,
    /// Per word, the words it only begins where it names a kind or colour, which count in part
    /// ([`Lexicon::exact_and_begun`]).
    partial: Vec<Vec<Range<u32>>>,
    idf: Vec<f32>,
    /// Per word, whether it names a kind of product ([`Lexicon::names_a_kind`]).
    kinds: Vec<bool>,
    /// Per word, whether it names a kind that some category's leaf names.
    leaves: Vec<bool>,
}

impl Weighed {
    /// How many words are weighed.
    pub fn words(&self) -> usize {
        self.idf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Origin;

    fn product(title: &str, description: &str) -> Product {
        Product {
            id: 1,
            sku: "S1".into(),
            title: title.into(),
            description: description.into(),
            category: "Gear/Bags".into(),
            color: "Blue".into(),
            price: None,
            attributes: serde_json::Map::new(),
            origin: Origin::Csv,
            source: String::new(),
            images: Vec::new(),
        }
    }

    fn coloured(title: &str, description: &str, colour: &str) -> Product {
        Product {
            color: colour.into(),
            ..product(title, description)
        }
    }

    fn product_in(title: &str, description: &str, category: &str) -> Product {
        Product {
            category: category.into(),
            ..product(title, description)
        }
    }

    /// A product's share of a query read as search reads it ([`Lexicon::query_terms`]), over
    /// all of `lex`'s products.
    fn share_of(lex: &Lexicon) -> impl Fn(&str, usize) -> f32 + '_ {
        let all: Vec<usize> = (0..lex.products.len()).collect();
        move |q, pi| lex.coverage(pi, &lex.weigh(&lex.query_terms(q), &all))
    }

    #[test]
    fn terms_drop_plurals_and_repeat_once() {
        let t = terms("Red bags, boxes & a bag");
        let stems: Vec<(&str, bool)> = t.iter().map(|t| (t.stem.as_str(), t.prefix)).collect();
        assert_eq!(
            stems,
            [("red", true), ("bag", true), ("box", true), ("a", false)]
        );
    }

    #[test]
    fn function_words_are_left_out_unless_there_is_nothing_else() {
        let stems = |text: &str| -> Vec<String> {
            content_terms(text).into_iter().map(|t| t.stem).collect()
        };
        assert_eq!(
            stems("a hoodie for the gym with pockets"),
            ["hoodie", "gym", "pocket"]
        );
        // Words that can name a property stay; contractions' pieces go.
        assert_eq!(
            stems("down jacket, it's not off-white"),
            ["down", "jacket", "off", "white"]
        );
        assert_eq!(stems("The Who"), ["the", "who"]);
    }

    #[test]
    fn a_misspelt_word_is_read_as_the_closest_catalog_word() {
        let lex = Lexicon::build(&[
            product("Strive Backpack", "roomy, with a laptop sleeve"),
            product("Abominable Hoodie", "fleece, for the park"),
            product("Daphne Hoodie", "single zip"),
            product("Sprite Backpack", "for the park, with a laptop sleeve"),
        ]);
        let fix = |w: &str| lex.correction(&terms(w)[0]);
        // A swap, a missing letter, a doubled one, a wrong key; a plural's "s" is dropped first.
        assert_eq!(fix("hoodei").as_deref(), Some("hoodie"));
        assert_eq!(fix("bakpack").as_deref(), Some("backpack"));
        assert_eq!(fix("hooddies").as_deref(), Some("hoodie"));
        assert_eq!(fix("laptpo").as_deref(), Some("laptop"));
        assert_eq!(fix("sleeive").as_deref(), Some("sleeve"));
        // Two typos only in long words.
        assert_eq!(fix("bakpak"), None);
        assert_eq!(fix("abomniabel").as_deref(), Some("abominable"));
        assert_eq!(fix("hoodeei"), None);
        // Words the catalog has, short words, numbers, another first letter, and a word that
        // extends a catalog word ("parka", "singlet") are left alone.
        for w in [
            "hoodie", "hood", "zip", "zap", "fleec", "2024", "joodie", "parka", "singlet",
        ] {
            assert_eq!(fix(w), None, "{w}");
        }
        // A swap of the first two letters is a typo too.
        assert_eq!(fix("ohodie").as_deref(), Some("hoodie"));
    }

    #[test]
    fn a_typo_that_begins_a_rare_name_is_read_as_the_colour_it_misspells() {
        let mut ps = vec![coloured("Blake Wallet", "leather", "Brown")];
        for i in 0..10 {
            ps.push(coloured(&format!("Murcia Handbag {i}"), "leather", "Black"));
        }
        ps.push(coloured("Rocky Tote", "canvas", "Blue"));
        ps.push(product_in("Nike Jacket", "warm", "Men/Jackets"));
        let lex = Lexicon::build(&ps);
        let fix = |w: &str| lex.correction(&terms(w)[0]);
        // "blak" begins only the brand of one product; "black" is the colour of ten.
        assert_eq!(fix("blak").as_deref(), Some("black"));
        // A word being typed that begins a kind finds it; one that begins a name no more
        // common than what it would be corrected to stays as typed.
        assert_eq!(fix("jacke"), None);
        assert_eq!(fix("rock"), None);
    }

    #[test]
    fn a_misspelt_plural_is_measured_as_typed() {
        let lex = Lexicon::build(&[
            product_in("Sport Watch", "One of our watches.", "Gear/Watches"),
            product_in("Yoga Bag", "Roomy, not baggy.", "Gear/Bags"),
            product_in("Gym Bag", "Two straps.", "Gear/Bags"),
        ]);
        let fix = |w: &str| lex.correction(&terms(w)[0]);
        // "watvhe" is two typos from "watch"; "watvhes" one from "watches".
        assert_eq!(fix("watvhes").as_deref(), Some("watches"));
        // Four letters typed allow a typo, though the singular has three; "baggs" is not known
        // for the "baggy" that "bagg" begins.
        assert_eq!(fix("bahs").as_deref(), Some("bags"));
        assert_eq!(fix("baggs").as_deref(), Some("bags"));
        assert_eq!(fix("bah"), None);
        // Read as the catalog's word, a term's stem is its singular.
        let mut t = terms("bahs").remove(0);
        t.read_as("bags");
        assert_eq!((t.stem.as_str(), t.typed.as_str()), ("bag", "bahs"));
    }

    #[test]
    fn a_typo_as_near_two_words_is_the_one_that_names_products() {
        // "wash" is in three descriptions, "watch" in one title: both one typo from "wach".
        let lex = Lexicon::build(&[
            product("Tee", "machine wash cold"),
            product("Pant", "machine wash warm"),
            product("Hoodie", "hand wash"),
            product("Sport Watch", "water resistant"),
        ]);
        let fix = |w: &str| lex.correction(&terms(w)[0]);
        assert_eq!(fix("wach").as_deref(), Some("watch"));
    }

    #[test]
    fn no_one_word_outweighs_a_word_that_names_a_kind() {
        let of = |title: &str, category: &str| product_in(title, "", category);
        // Hoodies are four products of ten, "gym" is in one title: by rarity alone the gym
        // tee would have more of "hoodies for gym" than every hoodie.
        let mut ps = vec![of("Gym Tee", "Apparel/Tops/Tees")];
        for name in ["Teton", "Stark", "Hero", "Oslo"] {
            ps.push(of(&format!("{name} Hoodie"), "Apparel/Tops/Hoodies"));
        }
        for name in ["Aero", "Nova", "Zen"] {
            ps.push(of(&format!("{name} Tee"), "Apparel/Tops/Tees"));
        }
        for name in ["Trail", "Track"] {
            ps.push(of(&format!("{name} Pant"), "Apparel/Bottoms/Pants"));
        }
        let lex = Lexicon::build(&ps);
        let all: Vec<usize> = (0..ps.len()).collect();
        let share = |q: &str, pi: usize| lex.coverage(pi, &lex.weigh(&content_terms(q), &all));
        let (hoodie, gym_tee) = (share("hoodies for gym", 1), share("hoodies for gym", 0));
        assert!(hoodie >= gym_tee && hoodie > 0.49, "{hoodie} {gym_tee}");
        // "apparel" and "tops" are in most categories: they name no kind and weigh as rare
        // words do; a word that only begins a category word ("hood" of "hoodies") is no kind.
        let kind = |w: &str| {
            let t = &terms(w)[0];
            lex.names_a_kind(t, &lex.ranges(t))
        };
        for w in ["hoodie", "hoodies", "tees", "pant"] {
            assert!(kind(w), "{w}");
        }
        for w in ["apparel", "tops", "gym", "hood"] {
            assert!(!kind(w), "{w}");
        }
        let gym_top = share("gym tops", 0);
        assert_eq!(gym_top, 1.0);
        assert!(share("gym tops", 1) < 0.5, "{}", share("gym tops", 1));
    }

    #[test]
    fn a_kind_named_only_in_a_description_counts_in_part() {
        let ps = vec![
            product_in("Zoltan Gym Tee", "Short sleeves, cool.", "Men/Tops/Tees"),
            product_in("Pierce Gym Short", "Loose fit.", "Men/Bottoms/Shorts"),
            product_in("Aero Tee", "Pairs with our gym shorts.", "Men/Tops/Tees"),
            product_in("Trail Pant", "Light.", "Men/Bottoms/Pants"),
            product_in(
                "Phoebe Sweatshirt",
                "A full zip hoodie.",
                "Tops/Hoodies & Sweatshirts",
            ),
            product_in("Mach Sweatshirt", "Crewneck.", "Tops/Hoodies & Sweatshirts"),
        ];
        let lex = Lexicon::build(&ps);
        let share = share_of(&lex);
        // Of a leaf of two kinds, the title says which the product is; its description does not
        // overrule it (descriptions name the products worn with it: "over your sports bra").
        assert_eq!(share("hoodie", 4), OTHER_KIND_PART);
        assert_eq!(share("hoodie", 5), OTHER_KIND_PART);
        assert_eq!(share("sweatshirt", 4), 1.0);
        assert_eq!(share("shorts", 1), 1.0);
        assert_eq!(share("shorts", 0), OTHER_KIND_PART);
        assert_eq!(share("shorts", 2), OTHER_KIND_PART);
        // The gym short has more of "gym shorts" than the tee that mentions them.
        assert!(share("gym shorts", 1) > share("gym shorts", 2));
        // A word that names no kind counts wherever it is.
        assert_eq!(share("pairs", 2), 1.0);
    }

    #[test]
    fn a_number_in_a_category_names_no_kind() {
        // "3" is a word of the cargos' leaf ("3/4ths"); the sofa's title has it as a size.
        let ps = vec![
            product_in("Durian Fabric 3 Seater Sofa", "", "Furniture/Sofas"),
            product_in("Durian Leather 2 Seater Sofa", "", "Furniture/Sofas"),
            product_in("Bodymark Men's Cargos", "", "Clothing/Cargos & 3-4ths"),
            product_in("Balaji Velvet Sofa Cover", "", "Home/Sofa Covers"),
        ];
        let lex = Lexicon::build(&ps);
        let all: Vec<usize> = (0..ps.len()).collect();
        let w = lex.weigh(&lex.query_terms("3 seater"), &all);
        assert_eq!(lex.coverage_and_kinds(0, &w), (1.0, None, false));
        assert!(lex.coverage(1, &w) < 1.0);
    }

    #[test]
    fn a_kind_its_category_does_not_name_counts_in_part() {
        let of = |title: &str, category: &str| product_in(title, "", category);
        let ps = vec![
            of("Enroute Leather Sandals", "Men/Sandal/Sandals"),
            of("Rocia Brown Sandals", "Women/Shoes/Heels"),
            of("Inc Black Heels", "Women/Shoes/Heels"),
            of("Puma Blue T-shirt", "Men/Topwear/Tshirts"),
            of("Arrow Striped Shirt", "Men/Topwear/Shirts"),
            of("Basics Check Shirt", "Men/Topwear/Shirts"),
            of("Wildcraft Cap", "Unisex/Headwear/Caps"),
        ];
        let lex = Lexicon::build(&ps);
        let share = share_of(&lex);
        // The merchant filed the "sandals" among the heels: a sandal less surely than those
        // filed as sandals.
        assert_eq!(share("sandals", 0), 1.0);
        assert_eq!(share("sandals", 1), OTHER_KIND_PART);
        assert_eq!(share("heels", 1), 1.0);
        // The merchant's shirts are not its T-shirts, whose titles name a "shirt".
        assert_eq!(share("shirts", 3), OTHER_KIND_PART);
        assert_eq!(share("shirts", 4), 1.0);
        assert_eq!(share("shirts", 6), 0.0);
    }

    #[test]
    fn the_kinds_share_is_that_of_the_kinds_asked_for() {
        let of = |title: &str, category: &str| product_in(title, "", category);
        let ps = vec![
            of("Gym Tee", "Apparel/Tops/Tees"),
            of("Teton Hoodie", "Apparel/Tops/Hoodies"),
            of("Stark Hoodie", "Apparel/Tops/Hoodies"),
            of("Nora Tank", "Apparel/Tops/Bras & Tanks"),
            of("Electra Bra", "Apparel/Tops/Bras & Tanks"),
            of("Trail Pant", "Apparel/Bottoms/Pants"),
        ];
        let lex = Lexicon::build(&ps);
        let all: Vec<usize> = (0..ps.len()).collect();
        let kinds = |q: &str, pi: usize| {
            lex.coverage_and_kinds(pi, &lex.weigh(&content_terms(q), &all))
                .1
        };
        assert_eq!(kinds("hoodies for gym", 1), Some(1.0));
        assert_eq!(kinds("hoodies for gym", 0), Some(0.0));
        // A tank is in "Bras & Tanks" but its title says it is no bra.
        assert_eq!(kinds("gym bra", 3), Some(OTHER_KIND_PART));
        assert_eq!(kinds("gym bra", 4), Some(1.0));
        assert_eq!(kinds("gym", 0), None);
    }

    #[test]
    fn words_joined_by_or_are_one_term_either_satisfies() {
        let of = |title: &str, color: &str, category: &str| Product {
            category: category.into(),
            ..coloured(title, "", color)
        };
        let ps = [
            of("Bella Tank", "Red", "Women/Tops/Tanks"),
            of("Zoe Tank", "Blue", "Women/Tops/Tanks"),
            of("Nora Tank", "Green", "Women/Tops/Tanks"),
            of("Radiant Tee", "Blue", "Women/Tops/Tees"),
            of("Trail Pant", "Red", "Women/Bottoms/Pants"),
            of("Hero Hoodie", "Blue", "Women/Tops/Hoodies"),
            of("Sol Short", "Green", "Women/Bottoms/Shorts"),
        ];
        let lex = Lexicon::build(&ps);
        let all: Vec<usize> = (0..ps.len()).collect();
        let w = lex.weigh(&content_terms("red or blue tanks"), &all);
        let share: Vec<f32> = all.iter().map(|&pi| lex.coverage(pi, &w)).collect();
        assert!(share[0] == 1.0 && share[1] == 1.0, "{share:?}");
        assert!(share[2] < 1.0 && share[3] < 1.0, "{share:?}");
        let t = content_terms("tank or tee, red or blue or green");
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].stem.as_str(), t[0].or.as_slice()),
            ("tank", &["tee".to_string()][..])
        );
        assert_eq!(t[1].or, ["blue", "green"]);
        // "or" between function words joins nothing.
        let t = content_terms("hoodie with or without hood");
        assert!(t.iter().all(|t| t.or.is_empty()), "{t:?}");
        // A kind typed with an alternative still names a kind.
        let t = &content_terms("tank or tee")[0];
        assert!(lex.names_a_kind(t, &lex.ranges(t)));
    }

    #[test]
    fn a_category_of_two_kinds_gives_each_product_the_kind_its_title_names() {
        let of = |title: &str, category: &str, description: &str| Product {
            category: category.into(),
            description: description.into(),
            ..product(title, "")
        };
        let ps = [
            of("Bella Tank", "Women/Tops/Bras & Tanks", "A racerback top."),
            of("Lucia Sports Bra", "Women/Tops/Bras & Tanks", ""),
            of("Maya Tunic", "Women/Tops/Bras & Tanks", ""),
            of("Nova Tank", "Women/Tops/Bras & Tanks", "With a shelf bra."),
            of("Hero Hoodie", "Men/Tops/Hoodies and Sweatshirts", ""),
            of("Mach Sweatshirt", "Men/Tops/Hoodies and Sweatshirts", ""),
            of("Sprite Foam Roller", "Gear/Fitness Equipment", ""),
            of("Radiant Tee", "Women/Tops/Tees", ""),
        ];
        let lex = Lexicon::build(&ps);
        let all: Vec<usize> = (0..ps.len()).collect();
        let share = |q: &str, pi: usize| lex.coverage(pi, &lex.weigh(&content_terms(q), &all));
        // A tank is half a bra, unless its text says so; a tunic may be either.
        assert!(share("bra", 0) == 0.5 && share("bra", 1) == 1.0);
        assert!(share("bra", 2) == 1.0 && share("bra", 3) == 1.0);
        assert!(share("tank", 0) == 1.0 && share("tank", 1) == 0.5 && share("tank", 2) == 1.0);
        assert!(share("sweatshirts", 4) == 0.5 && share("sweatshirts", 5) == 1.0);
        assert_eq!(share("hoodie", 4), 1.0);
        assert_eq!(share("jacket", 4), 0.0);
        // One kind of two words, and a parent level, are the product's whatever its title.
        assert!(share("equipment", 6) == 1.0 && share("fitness", 6) == 1.0);
        assert!(share("tops", 7) == 1.0 && share("tops", 0) == 1.0);
    }

    #[test]
    fn a_word_no_product_has_finds_the_words_of_its_root() {
        let ps = vec![
            product("Trail Jacket", "for hiking and long hikes"),
            product("Commuter Tote", "padding for a laptop"),
            product("Hike Cap", "light"),
            product("Tee", "cotton"),
        ];
        let lex = Lexicon::build(&ps);
        let root = |w: &str| {
            let mut t = terms(w).remove(0);
            t.kin = lex.same_root(&t);
            t
        };
        // Most products first, then in order.
        assert_eq!(root("hiked").kin, ["hike", "hikes", "hiking"]);
        assert_eq!(root("commuting").kin, ["commuter"]);
        assert_eq!(root("padded").kin, ["padding"]);
        // A word the catalog has matches as it is; short words and numbers find no kin.
        for w in ["hiking", "hik", "2024", "cottons"] {
            assert!(root(w).kin.is_empty(), "{w}");
        }
        // The kin count in coverage and BM25 as the word itself would.
        let all: Vec<usize> = (0..ps.len()).collect();
        let query = [root("hiked"), root("padded")];
        let w = lex.weigh(&query, &all);
        let cov: Vec<f32> = all.iter().map(|&i| lex.coverage(i, &w)).collect();
        assert!(
            cov[0] > 0.0 && cov[1] > 0.0 && cov[2] > 0.0 && cov[3] == 0.0,
            "{cov:?}"
        );
        // (The cap has "hike" in its title, which weighs more than the jacket's description.)
        let ranked: Vec<usize> = lex
            .bm25(&query[..1], ALL_FIELDS, 10)
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(ranked, [2, 0]);
    }

    #[test]
    fn a_letter_the_catalog_joins_to_the_next_word_is_a_word_of_the_query() {
        // Products 0 and 1 are T-shirts and 2 a shirt, in a catalog that writes "Tshirt" too
        // and in one that writes only "T-Shirt". "t" alone is a function word ("don't"): "blue
        // t-shirt" asked for a blue shirt, and the shirts had all of it.
        let joined = vec![
            product_in("Nike Blue T-shirt", "", "Men/Topwear/Tshirts"),
            product_in("Puma Blue Tshirt", "", "Men/Topwear/Tshirts"),
            product_in("Arrow Blue Shirt", "", "Men/Topwear/Shirts"),
            product_in("Basics Check Shirt", "", "Men/Topwear/Shirts"),
            product_in("Lee Blue Jeans", "", "Men/Bottomwear/Jeans"),
        ];
        let hyphenated = vec![
            product_in("Numero Men's Blue T-Shirt", "", "Men/T-Shirts"),
            product_in("Osberry Men's Blue T-Shirt", "", "Men/T-Shirts"),
            product_in("Inmark Men's Blue Shirt", "", "Men/Shirts"),
            product_in("Jogur Men's Checkered Shirt", "", "Men/Shirts"),
            product_in("Fox Women's V-neck Top", "don't miss it", "Women/Tops"),
        ];
        for (ps, with_dont) in [(joined, false), (hyphenated, true)] {
            let lex = Lexicon::build(&ps);
            let share = share_of(&lex);
            for q in [
                "blue t-shirt",
                "blue t shirt",
                "blue tshirt",
                "blue t-shirts",
            ] {
                assert_eq!(share(q, 0), 1.0, "{q}");
                assert_eq!(share(q, 1), 1.0, "{q}");
                assert!(share(q, 2) < 0.8, "{q} {}", share(q, 2));
            }
            let stems = |q: &str| -> Vec<String> {
                lex.query_terms(q).into_iter().map(|t| t.stem).collect()
            };
            assert_eq!(stems("blue t-shirt"), ["blue", "tshirt", "shirt"]);
            assert_eq!(stems("don't fade"), ["fade"]);
            // A letter that only ends a word ("don't") is none of the query's words.
            if with_dont {
                assert_eq!(share("v-neck top", 4), 1.0);
                assert_eq!(share("t-shirts", 4), 0.0);
            }
        }
    }

    #[test]
    fn two_words_the_catalog_writes_as_one_find_it_and_one_word_finds_its_two() {
        let ps = vec![
            product("Frankie Sweatshirt", "fleece"),
            product("Radiant T Shirt", "a shirt for the gym"),
            product("Sprite Yoga Strap", "for yoga"),
            product("Wall Clock", "keeps time"),
            product("Puzzle", "one piece missing"),
            product("Stasis Ball 65 cm", "inflates to 65 cm"),
            product("Affirm Water Bottle", "holds 32oz"),
            product("Sprite Yoga Strap 10 foot", "for yoga"),
        ];
        let lex = Lexicon::build(&ps);
        let share = share_of(&lex);
        // "sweat shirt" finds the sweatshirt whole, as "sweatshirt" does; the tee has "shirt".
        assert_eq!(share("sweat shirt", 0), 1.0);
        assert_eq!(share("sweatshirts", 0), 1.0);
        assert!(share("sweat shirt", 1) < 1.0);
        // A function word is not joined ("the gym" is not "thegym"), nor a number.
        assert!(lex.joined("the", "gym").is_none() && lex.joined("2", "pack").is_none());
        let split = |w: &str| lex.split(&terms(w)[0]);
        assert_eq!(split("tshirt"), Some(("t".into(), "shirt".into())));
        assert_eq!(split("yogastraps"), Some(("yoga".into(), "strap".into())));
        // No product has both "time" and "piece": "timepiece" is a word of its own.
        assert_eq!(split("timepiece"), None);
        // A word the catalog has, a short one, one with digits: as typed.
        for w in ["sweatshirt", "yog", "yoga2"] {
            assert_eq!(split(w), None, "{w}");
        }
        // A number and its unit, run together or apart, find what the catalog writes.
        assert_eq!(share("65cm ball", 5), 1.0);
        assert_eq!(lex.joined("32", "oz"), Some(vec!["32oz".to_string()]));
        assert_eq!(share("32 oz bottle", 6), 1.0);
        assert_eq!(share("strap 10ft", 7), 1.0);
    }

    #[test]
    fn a_shade_finds_the_colours_it_is_a_shade_of_and_a_colour_its_shades() {
        let ps = vec![
            coloured("Lando Jacket", "warm", "Blue"),
            coloured("Juno Jacket", "light", "Red"),
            coloured("Orion Jacket", "navy trim", "Black"),
            coloured("Ina Jacket", "soft", "Lavender"),
            coloured("Mira Jacket", "soft", "Purple"),
        ];
        let lex = Lexicon::build(&ps);
        let share = share_of(&lex);
        // No product has "violet": the purple one has it, in full, and the lavender one, a
        // shade of purple, in part.
        let violet = |pi| share("violet jacket", pi);
        assert_eq!(violet(4), 1.0);
        assert!(
            violet(3) < 1.0 && violet(3) > violet(1),
            "{:?}",
            [violet(3), violet(1)]
        );
        // One product describes "navy": it comes first, the blue one next, the red one last.
        let navy = |pi| share("navy jacket", pi);
        assert!(
            navy(2) == 1.0 && navy(0) > navy(1) && navy(0) < 1.0,
            "{:?}",
            [navy(0), navy(1), navy(2)]
        );
        // "purple" finds the lavender jacket after the purple one; "lavender" only its own.
        assert!(share("purple", 4) > share("purple", 3) && share("purple", 3) > 0.0);
        assert_eq!(share("lavender", 4), 0.0);
        // A shade matches itself, not the words it begins: "tan" is not "tank".
        let ps = vec![
            coloured("Bella Tank", "light", "Brown"),
            coloured("Juno Tank", "light", "Red"),
        ];
        let tanks = Lexicon::build(&ps);
        let tan = |pi| share_of(&tanks)("tan", pi);
        assert!(tan(0) == 1.0 && tan(1) == 0.0, "{:?}", [tan(0), tan(1)]);
        // What the user is told: the colours a shade no product's colour names is read as.
        let read = |q: &str| lex.colours_of_shade(&lex.query_terms(q)[0]);
        assert_eq!(read("violet"), ["purple"]);
        assert_eq!(read("navy"), ["blue"]);
        assert_eq!(read("teal"), ["blue"]);
        assert!(read("lavender").is_empty() && read("jacket").is_empty());
    }

    #[test]
    fn another_way_of_writing_a_word_finds_the_one_the_catalog_uses() {
        let mut ps = vec![
            product("Josie Jacket", "light"),
            product("Radiant Tee", "soft"),
            product("Lando Jacket", "a man-made fibre"),
            product("Knife Set", "steel"),
        ];
        ps[0].category = "Women/Jackets".into();
        ps[1].color = "Gray".into();
        ps[1].category = "Men/Tees".into();
        ps[2].category = "Men/Jackets".into();
        let lex = Lexicon::build(&ps);
        let share = share_of(&lex);
        assert_eq!(share("woman's jacket", 0), 1.0);
        assert_eq!(share("grey tee", 1), 1.0);
        assert_eq!(share("kitchen knives", 3), share("kitchen knife", 3));
        assert!(share("knives", 3) > 0.0);
        // "men" is the catalog's word here ("man" is in one description only): it stays as
        // typed.
        assert_eq!(share("men jacket", 0), share("men jacket", 0).min(0.5));
        assert_eq!(share("men jacket", 2), 1.0);
        assert!(lex.query_terms("men").iter().all(|t| t.kin.is_empty()));
        // "man" finds the catalog's "men", "ladies" its "women".
        assert!(lex.query_terms("man")[0].kin.contains(&"men".to_string()));
        assert_eq!(share("ladies jacket", 0), 1.0);
        // A plural in "ies" and its singular find each other.
        let ps = vec![
            product("Phone Accessories", "batteries included"),
            product("Charger", "a battery accessory"),
        ];
        let lex = Lexicon::build(&ps);
        let share = share_of(&lex);
        for q in ["accessory battery", "accessories batteries"] {
            assert_eq!((share(q, 0), share(q, 1)), (1.0, 1.0), "{q}");
        }
    }

    #[test]
    fn the_words_a_catalog_writes_after_no_are_known() {
        let lex = Lexicon::build(&[
            product("Ankle Socks", "A no-show cut."),
            product("Yoga Mat", "Non-slip and light."),
        ]);
        for w in ["show", "shows", "slip"] {
            assert!(lex.writes_after_no(w), "{w}");
        }
        for w in ["zip", "cut", "ankle"] {
            assert!(!lex.writes_after_no(w), "{w}");
        }
    }

    #[test]
    fn for_her_and_for_him_ask_for_women_and_men() {
        let of = |title: &str, category: &str| product_in(title, "", category);
        let ps = vec![
            of("Hera Hoodie", "Women/Tops/Hoodies"),
            of("Hero Hoodie", "Men/Tops/Hoodies"),
            of("Ana Short", "Women/Bottoms/Shorts"),
        ];
        let lex = Lexicon::build(&ps);
        let stems =
            |q: &str| -> Vec<String> { lex.query_terms(q).into_iter().map(|t| t.stem).collect() };
        assert_eq!(stems("hoodie for her"), ["hoodie", "women"]);
        assert_eq!(stems("Hoodie for him!"), ["hoodie", "men"]);
        // Elsewhere "her" stays a function word, and a catalog without the word keeps it.
        assert_eq!(stems("her hoodie"), ["hoodie"]);
        let plain = Lexicon::build(&[product("Hera Hoodie", "")]);
        let plain_stems: Vec<String> = plain
            .query_terms("hoodie for her")
            .into_iter()
            .map(|t| t.stem)
            .collect();
        assert_eq!(plain_stems, ["hoodie"]);
    }

    #[test]
    fn and_between_two_kinds_asks_for_either() {
        let mut ps = vec![
            product("Radiant Tee", "black and white"),
            product("Zoe Tank", "white"),
            product("Juno Jacket", "black"),
        ];
        for (p, c) in ps
            .iter_mut()
            .zip(["Women/Tees", "Women/Tanks", "Women/Jackets"])
        {
            p.category = c.into();
        }
        let lex = Lexicon::build(&ps);
        let share = share_of(&lex);
        for q in ["tees and tanks", "tees & tanks", "tee&tank", "tee/tank"] {
            assert_eq!(
                (share(q, 0), share(q, 1), share(q, 2)),
                (1.0, 1.0, 0.0),
                "{q}"
            );
        }
        // Between colours, "and" asks for both.
        assert_eq!(share("black and white", 0), 1.0);
        assert!(share("black and white", 1) < 1.0 && share("black and white", 2) < 1.0);
    }

    #[test]
    fn a_word_matches_its_inflections_but_not_every_word_it_begins() {
        for (stem, word) in [
            ("zip", "zippered"),
            ("zip", "zips"),
            ("run", "running"),
            ("hike", "hiked"),
            ("hood", "hoodie"),
            ("bag", "baggy"),
            ("pocket", "pockets"),
            ("a", "a"),
        ] {
            assert!(inflects(stem, word), "{stem} {word}");
        }
        for (stem, word) in [
            ("red", "reduced"),
            ("tee", "teen"),
            ("sleeve", "sleeveless"),
            ("blue", "bluetooth"),
            ("bra", "brand"),
            ("ban", "band"),
            ("a", "as"),
        ] {
            assert!(!inflects(stem, word), "{stem} {word}");
        }
    }

    #[test]
    fn a_kind_or_a_colour_counts_the_words_it_only_begins_in_part() {
        let mut ps = vec![
            product("Radiant Tee", "soft"),
            product("Logan Tee", "at a reduced price"),
            product("Celeste Sports Bra", "stretchy"),
            product("Savvy Tote", "a brand new tote"),
            product("Shell Jacket", "underarm ventilation"),
            product("Rain Jacket", "two vents"),
        ];
        ps[0].color = "Red".into();
        ps[2].category = "Women/Bras".into();
        let lex = Lexicon::build(&ps);
        let share = share_of(&lex);
        assert_eq!(share("red", 0), 1.0);
        assert_eq!(share("red", 1), PREFIX_PART);
        assert_eq!(share("bras", 2), 1.0);
        assert_eq!(share("bra", 3), PREFIX_PART);
        // Any other word counts the words it begins in full: "vent" says "ventilation".
        assert_eq!(share("vent", 4), 1.0);
        assert_eq!(share("vent", 5), 1.0);
        // A word being typed finds what it begins ("jack" on the way to "jacket").
        assert_eq!(share("jack", 4), 1.0);
    }

    #[test]
    fn coverage_weighs_rare_words_more() {
        let ps = vec![
            product("Duffle Bag", "Roomy, for the gym."),
            product("Backpack", "For hiking and the gym."),
            product("Tote", "A bag for shopping."),
            product("Tee", "Cotton."),
        ];
        let lex = Lexicon::build(&ps);
        let all: Vec<usize> = (0..ps.len()).collect();
        let w = lex.weigh(&terms("duffle bags for the gym"), &all);
        let cov: Vec<f32> = (0..ps.len()).map(|i| lex.coverage(i, &w)).collect();
        assert!((cov[0] - 1.0).abs() < 1e-6, "{cov:?}");
        assert!(cov[0] > cov[1] && cov[1] > 0.0, "{cov:?}");
        // "bag" is a prefix of nothing in the tee; the category "Gear/Bags" counts for all.
        assert!(cov[3] > 0.0 && cov[3] < cov[2], "{cov:?}");
        // A short word matches whole words only: "a" is not a prefix of "and".
        let w = lex.weigh(&terms("a"), &all);
        assert_eq!(lex.coverage(1, &w), 0.0);
        assert!(lex.coverage(2, &w) > 0.0);
        assert_eq!(lex.coverage(0, &lex.weigh(&[], &all)), 0.0);
    }

    /// The FTS5 query `Lexicon::bm25` stands for: an OR of the terms, restricted to the fields.
    fn fts_query(terms: &[Term], fields: [bool; FIELDS]) -> String {
        let any = terms
            .iter()
            .map(|t| format!("\"{}\"{}", t.stem, if t.prefix { "*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" OR ");
        let names = [
            "title",
            "description",
            "category",
            "color",
            "sku",
            "attributes",
        ];
        let cols: Vec<&str> = (0..FIELDS)
            .filter(|&k| fields[k])
            .map(|k| names[k])
            .collect();
        format!("{{{}}} : ({any})", cols.join(" "))
    }

    #[test]
    fn bm25_in_memory_gives_what_sqlite_fts5_gives() {
        use crate::store::{ProductData, Store};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("c.sqlite")).unwrap();
        let vocab = [
            "bag",
            "bags",
            "bagpipe",
            "backpack",
            "duffle",
            "gym",
            "for",
            "the",
            "a",
            "and",
            "café",
            "creme",
            "crème",
            "Zip",
            "zipper",
            "waterproof",
            "hoodie",
            "tee",
            "tees",
            "shoes",
            "running",
            "run",
            "léger",
            "XL",
            "2024",
            "cotton",
        ];
        let mut x = 0x9e37_79b9_u64;
        let mut pick = |n: usize| -> Vec<&str> {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    vocab[(x >> 33) as usize % vocab.len()]
                })
                .collect()
        };
        {
            let tx = store.transaction().unwrap();
            // Enough products for several of the build's chunks, each with words of its own
            // (the SKUs' numbers).
            for i in 0..5000 {
                let data = ProductData {
                    sku: format!("SKU-{i}"),
                    title: pick(1 + i % 4).join(" "),
                    description: pick(i % 23).join(", "),
                    category: format!("Gear/{}", pick(1)[0]),
                    color: pick(i % 2).join(" "),
                    // Descriptive attributes are searched; a size is not.
                    attributes: [
                        ("Brand", pick(i % 3).join(" ")),
                        ("Size", pick(1).join(" ")),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
                    .collect(),
                    ..ProductData::default()
                };
                Store::upsert_product(&tx, &data, crate::domain::Origin::Csv, "t").unwrap();
            }
            tx.commit().unwrap();
        }
        let products = store.all_products_with_images().unwrap();
        let lex = Lexicon::build(&products);
        for q in [
            "bag",
            "bags for the gym",
            "a",
            "cafe",
            "CRÈME léger",
            "zip",
            "xl tee 2024",
            "waterproof running shoes and a hoodie",
            "sku",
            "sku 4999 bag",
            "2047 2048 tee",
            "nothing matches this",
        ] {
            let t = terms(q);
            for fields in [NAMING_FIELDS, ALL_FIELDS] {
                let fts = store
                    .keyword_search(&fts_query(&t, fields), 10_000)
                    .unwrap();
                let ours = lex.bm25(&t, fields, 10_000);
                assert_eq!(fts.len(), ours.len(), "{q:?} {fields:?}");
                let by_id: std::collections::HashMap<i64, f64> = fts.into_iter().collect();
                for (pi, score) in ours {
                    let theirs = by_id[&products[pi].id];
                    assert!(
                        (score - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
                        "{q:?}: {} scores {score}, FTS5 {theirs}",
                        products[pi].sku
                    );
                }
            }
        }
        // The fields a query is restricted to change the scores.
        let t = terms("gym");
        assert_ne!(lex.bm25(&t, NAMING_FIELDS, 5), lex.bm25(&t, ALL_FIELDS, 5));
        // Only the best `limit`, best first.
        let top = lex.bm25(&terms("bag gym"), ALL_FIELDS, 3);
        assert_eq!(top.len(), 3);
        assert!(top[0].1 >= top[1].1 && top[1].1 >= top[2].1);
        assert_eq!(lex.matching(&terms("zip")).len(), {
            let all = lex.bm25(&terms("zip"), ALL_FIELDS, 10_000);
            all.len()
        });
    }
}
