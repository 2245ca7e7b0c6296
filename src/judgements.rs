//! Results the user marked right or wrong for a query, kept with the catalog by SKU (so they
//! outlive a re-import). They make the user's own labelled query set: `eval` measures on it and
//! `tune` fits the fusion weights to it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::eval::EvalQuery;

/// The query as judged: trimmed, runs of spaces made one, so retyping it finds its marks.
pub fn normalise(query: &str) -> String {
    query.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judgement {
    pub query: String,
    pub sku: String,
    /// Right (relevant) or wrong (not relevant).
    pub right: bool,
}

/// How many judgements the catalog has.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Queries with a mark.
    pub queries: usize,
    /// Queries with at least one result marked right: those `eval` and `tune` can use.
    pub usable: usize,
    pub right: usize,
    pub wrong: usize,
}

/// Marks `sku` right or wrong for the typed `query`, or forgets its mark (`None`).
pub fn judge(catalog: &Catalog, query: &str, sku: &str, right: Option<bool>) -> Result<()> {
    let query = normalise(query);
    if query.is_empty() {
        return Err(Error::InvalidInput(
            "only results of a typed query can be judged".into(),
        ));
    }
    if right.is_some() {
        catalog.store.product_by_sku(sku)?;
    }
    catalog.store.set_judgement(&query, sku, right)
}

/// Every judgement, or those of one query.
pub fn list(catalog: &Catalog, query: Option<&str>) -> Result<Vec<Judgement>> {
    let query = query.map(normalise);
    Ok(catalog
        .store
        .judgements(query.as_deref())?
        .into_iter()
        .map(|(query, sku, right)| Judgement { query, sku, right })
        .collect())
}

pub fn counts(judgements: &[Judgement]) -> Counts {
    let mut by_query: BTreeMap<&str, bool> = BTreeMap::new();
    let mut c = Counts::default();
    for j in judgements {
        *by_query.entry(&j.query).or_default() |= j.right;
        if j.right {
            c.right += 1;
        } else {
            c.wrong += 1;
        }
    }
    c.queries = by_query.len();
    c.usable = by_query.values().filter(|&&r| r).count();
    c
}

/// The judgements as a query set: one query per judged text, its right results relevant
/// (grade 1). Wrong marks count as not relevant, as every unmarked result does.
pub fn as_queries(judgements: &[Judgement]) -> Vec<EvalQuery> {
    let mut queries: Vec<EvalQuery> = Vec::new();
    for j in judgements {
        let i = match queries.iter().position(|q| q.text == j.query) {
            Some(i) => i,
            None => {
                queries.push(EvalQuery {
                    id: format!("judged-{}", queries.len() + 1),
                    group: "judged".into(),
                    text: j.query.clone(),
                    ..EvalQuery::default()
                });
                queries.len() - 1
            }
        };
        if j.right {
            queries[i].relevant.insert(j.sku.clone(), 1);
        }
    }
    queries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(query: &str, sku: &str, right: bool) -> Judgement {
        Judgement {
            query: query.into(),
            sku: sku.into(),
            right,
        }
    }

    #[test]
    fn judgements_make_one_query_per_text_with_its_right_results() {
        let js = [
            j("red bag", "A", true),
            j("red bag", "B", false),
            j("tee", "C", false),
            j("red bag", "D", true),
        ];
        let qs = as_queries(&js);
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[0].text, "red bag");
        assert_eq!(qs[0].relevant.keys().collect::<Vec<_>>(), ["A", "D"]);
        assert!(qs[1].relevant.is_empty());
        let c = counts(&js);
        assert_eq!(
            c,
            Counts {
                queries: 2,
                usable: 1,
                right: 2,
                wrong: 2
            }
        );
        assert_eq!(normalise("  red   bag "), "red bag");
    }
}
