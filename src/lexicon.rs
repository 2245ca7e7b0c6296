//! The words of every product, for keyword coverage: which of a query's words a product has.
//!
//! Words are split and lower-cased as SQLite's FTS5 `unicode61` tokenizer does (runs of
//! letters and digits), over the fields the keyword signal searches: title, description,
//! category, colour and SKU. The vocabulary is sorted, so a word's prefix is a range of word
//! ids and each product keeps only its sorted word ids.

use crate::domain::Product;

/// A query word: its stem (plural ending dropped) and whether it matches as a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub stem: String,
    pub prefix: bool,
}

/// The query's words, each once, in order.
pub fn terms(text: &str) -> Vec<Term> {
    let mut out: Vec<Term> = Vec::new();
    for w in words(text) {
        let stem = if ["ches", "shes", "sses", "xes"]
            .iter()
            .any(|e| w.ends_with(e))
        {
            &w[..w.len() - 2]
        } else if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
            &w[..w.len() - 1]
        } else {
            &w[..]
        };
        let t = Term {
            stem: stem.to_string(),
            prefix: stem.chars().count() >= 3,
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

pub struct Lexicon {
    vocabulary: Vec<String>,
    /// Per product, its sorted word ids.
    products: Vec<Vec<u32>>,
}

impl Lexicon {
    pub fn build(products: &[Product]) -> Lexicon {
        let sorted = |fields: &[&String]| {
            let mut w: Vec<String> = fields.iter().flat_map(|f| words(f)).collect();
            w.sort_unstable();
            w.dedup();
            w
        };
        let texts: Vec<Vec<String>> = products
            .iter()
            .map(|p| sorted(&[&p.title, &p.description, &p.category, &p.color, &p.sku]))
            .collect();
        let mut vocabulary: Vec<String> = texts.iter().flatten().cloned().collect();
        vocabulary.sort_unstable();
        vocabulary.dedup();
        let ids = |ws: &[String]| -> Vec<u32> {
            ws.iter()
                .filter_map(|w| vocabulary.binary_search(w).ok().map(|i| i as u32))
                .collect()
        };
        let products = texts.iter().map(|w| ids(w)).collect();
        Lexicon {
            vocabulary,
            products,
        }
    }

    /// The word ids a term matches: a range of the sorted vocabulary.
    fn range(&self, t: &Term) -> std::ops::Range<u32> {
        let lo = self
            .vocabulary
            .partition_point(|w| w.as_str() < t.stem.as_str());
        let hi = if t.prefix {
            lo + self.vocabulary[lo..].partition_point(|w| w.starts_with(&t.stem))
        } else {
            lo + usize::from(self.vocabulary.get(lo) == Some(&t.stem))
        };
        lo as u32..hi as u32
    }

    /// Whether product `pi` has a word the term matches.
    fn has(&self, pi: usize, r: &std::ops::Range<u32>) -> bool {
        let ids = &self.products[pi];
        let i = ids.partition_point(|&id| id < r.start);
        ids.get(i).is_some_and(|&id| id < r.end)
    }

    /// How the query's words weigh: inverse document frequency over `population` (a sample of
    /// the catalog), as BM25 computes it.
    pub fn weigh(&self, terms: &[Term], population: &[usize]) -> Weighed {
        let n = population.len() as f32;
        let ranges: Vec<_> = terms.iter().map(|t| self.range(t)).collect();
        let idf = ranges
            .iter()
            .map(|r| {
                let df = population.iter().filter(|&&pi| self.has(pi, r)).count() as f32;
                ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
            })
            .collect();
        Weighed { ranges, idf }
    }

    /// The share of the query's word weight that product `pi` has, in [0, 1].
    pub fn coverage(&self, pi: usize, w: &Weighed) -> f32 {
        let total: f32 = w.idf.iter().sum();
        if total <= 0.0 {
            return 0.0;
        }
        let had: f32 = w
            .ranges
            .iter()
            .zip(&w.idf)
            .filter(|(r, _)| self.has(pi, r))
            .map(|(_, idf)| idf)
            .sum();
        had / total
    }
}

/// A query's words as word-id ranges with their weights.
pub struct Weighed {
    ranges: Vec<std::ops::Range<u32>>,
    idf: Vec<f32>,
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
}
