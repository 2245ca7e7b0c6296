//! From each signal's scores to one ranking: evidence per signal, fusion, and where the strong
//! matches end.
//!
//! Evidence. Each signal's score becomes evidence in [0, 1] that says how strongly the signal
//! singles a product out, on a scale that means the same for every query and model:
//! - embedding signals: the cosine's z-score against the catalog for this query, divided by
//!   twice the z-score the best of the catalog would reach by chance (`√(2 ln n)` for `n`
//!   products), clamped. A product only as close as chance allows scores about 0.5; a signal
//!   that cannot tell products apart (a flat or undecided one) gives no product much evidence.
//!   Text-to-photo evidence is then multiplied by how well the catalog's own titles find their
//!   photos with that model (`crate::hubness::agreement`): calibration alone cannot tell a model
//!   that says nothing from one that speaks.
//! - keywords: the share of the query's word weight (IDF, a word naming a kind of product at
//!   least as heavy as any other: `Lexicon::weigh`; a kind its category names beside the one
//!   its title names counts half, as does one only its description names where its category
//!   does not: `Lexicon::coverage`) the product has, or, when larger, how
//!   far that share stands out from the catalog's shares ([`share_standout`], against at least
//!   the spread one word can make: [`Spread::of_shares`]), times
//!   `(1 + bm25 / best bm25 · kinds) / 2 · (1 + kinds) / 2`, with `kinds` the share of the
//!   weight of the query's words naming a kind of product that the product has (1 when none
//!   does): a product with every word of the query scores at least 0.5, one with only a common
//!   word little, however the BM25 scores are spread, one without the kinds asked for half as
//!   much as one with them, so of two with as much of the query the one of the kind (and, where
//!   the categories say so, for the people) asked for comes first; and a long query
//!   whose words a product shares far more of than the rest of the catalog (a sentence of its
//!   description amid chatter) counts as strongly as a short query matched in full, although no
//!   product has most of its words.
//! - perceptual hash: `(12 - distance) / 12`, clamped.
//!
//! Fusion ([`Fusion::Evidence`], the default): the chance that at least one signal is right
//! if each were an independent witness, `1 - Π (1 - eᵢ)^(wᵢ / w̄)`, with `w̄` the mean of the
//! weights above 0. A decisive signal is never outvoted by an undecided one, and a weight of 2
//! counts a signal like two witnesses. Each signal's share of a result's score is its part of
//! `Σ -(wᵢ / w̄) ln(1 - eᵢ)`. Where keywords count and the query names kinds of product, the
//! text signals' evidence for a product of none of them counts [`KINDLESS_PART`]: an embedding
//! hears a rare colour more than the kind ("olive caps": an olive top reads closer than a
//! black cap). For comparison, [`Fusion::MinMax`] is the convex combination of
//! per-query min-max scaled scores (the hybrid-search default of Elastic, OpenSearch, Weaviate
//! and Marqo) and [`Fusion::Rrf`] reciprocal rank fusion with k = 60.
//!
//! The cut: strong matches end at the first drop between consecutive fused scores, among the
//! first [`CUT_WINDOW`] results (and any more that score at least [`NEAR_CERTAIN`]), that is at
//! least half the largest one.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fusion {
    /// Calibrated evidence, combined as independent witnesses (the default).
    #[default]
    Evidence,
    /// Weighted mean of scores min-max scaled per query.
    MinMax,
    /// Reciprocal rank fusion, k = 60.
    Rrf,
}

impl Fusion {
    pub const ALL: [Fusion; 3] = [Fusion::Evidence, Fusion::MinMax, Fusion::Rrf];

    pub fn name(self) -> &'static str {
        match self {
            Fusion::Evidence => "evidence",
            Fusion::MinMax => "min-max",
            Fusion::Rrf => "rrf",
        }
    }
}

impl FromStr for Fusion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fusion::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown fusion {s:?}: use evidence, min-max or rrf"))
    }
}

pub const RRF_K: f32 = 60.0;
/// Evidence is capped below 1 so that other signals still order products a signal is sure of.
const MAX_EVIDENCE: f32 = 0.999;
/// Results among which the cut looks for the largest drop.
pub const CUT_WINDOW: usize = 50;
/// A fused score at which some signal is near-certain: the cut's window takes in every result
/// scoring at least this.
pub const NEAR_CERTAIN: f32 = 0.9;
/// What the text signals' evidence counts for a product of none of the kinds a query names
/// (of those its categories' leaves name, where it names some: `Lexicon::coverage_and_kinds`),
/// where keywords count: what a product is decides before how its text or photo reads ("olive
/// caps": a cap in another colour before an olive top), as in [`keyword_evidence`].
pub const KINDLESS_PART: f32 = 0.5;

/// A query's spread of one embedding signal over the catalog.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    mean: f32,
    sd: f32,
    chance: f32,
}

impl Spread {
    /// From the signal's scores over the catalog (or a sample of it).
    pub fn of(values: &[f32]) -> Spread {
        let n = values.len().max(1) as f32;
        let mean = values.iter().sum::<f32>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
        Spread {
            mean,
            sd: var.sqrt(),
            chance: (2.0 * n.max(2.0).ln()).sqrt(),
        }
    }

    /// From the catalog's shares of a query's `words` words ([`share_standout`]): as
    /// [`Spread::of`], with the standard deviation at least `1 / (2·words)`, the most that one
    /// word of average weight can spread the shares by (as a word that half the catalog has).
    /// Shares spread less only where the query's words are rare in the catalog, and there a
    /// z-score measures rarity, which the words' weights already count, not how much of the
    /// query a product has: one title word matched among a long review's twenty would stand
    /// out as far as a description that shares half of them.
    pub fn of_shares(values: &[f32], words: usize) -> Spread {
        let mut s = Spread::of(values);
        s.sd = s.sd.max(0.5 / words.max(1) as f32);
        s
    }

    pub fn evidence(&self, x: f32) -> f32 {
        if self.sd <= 1e-6 {
            return 0.0;
        }
        ((x - self.mean) / self.sd / (2.0 * self.chance)).clamp(0.0, 1.0)
    }
}

/// Keyword evidence from the share of the query's word weight a product has, how far that
/// share stands out from the catalog's ([`share_standout`]), its BM25 relative to the query's
/// best, and, where the query names a kind of product, the share of the kinds' weight it has
/// (`kinds`, `Lexicon::coverage_and_kinds`). The BM25 part orders products of equal share; it
/// counts only as far as the product is of the kind asked for: of a track pant and a running
/// short, each with half of "pants for running", the pant comes first, however the words sit
/// in their titles. And a product without the kinds asked for counts half: what a product is
/// (a kind) and whom it is for ("men", where the categories say it) decide before a word that
/// only describes it, so for "mens yoga pants" men's pants come before a women's yoga pant,
/// which has as much of the query.
pub fn keyword_evidence(share: f32, standout: f32, bm25_relative: f32, kinds: Option<f32>) -> f32 {
    let kinds = kinds.map_or(1.0, |k| k.clamp(0.0, 1.0));
    let order = bm25_relative.clamp(0.0, 1.0) * kinds;
    let e = share.max(standout) * (1.0 + order) / 2.0 * (1.0 + kinds) / 2.0;
    // Not `clamp`: an empty sum is -0.0, which would show as "-0.00".
    if e > 0.0 { e.min(1.0) } else { 0.0 }
}

/// How far a product's share of the query's words stands out from the catalog's: its evidence
/// against their `spread` (as an embedding signal's cosine against its spread), times the share
/// over the catalog's best, so that of two products that both stand out the one with more of
/// the query's words keeps the lead.
pub fn share_standout(spread: &Spread, share: f32, best_share: f32) -> f32 {
    if best_share <= 0.0 {
        return 0.0;
    }
    spread.evidence(share) * (share / best_share).min(1.0)
}

/// One signal's column over the candidates.
pub struct Column<'a> {
    pub weight: f32,
    /// For [`Fusion::Evidence`], the evidence in [0, 1]; for min-max and rank fusion, the raw
    /// score, higher is better.
    pub values: &'a [f32],
}

/// Each of the `n` candidates' fused score and each signal's share of it.
pub fn fuse(fusion: Fusion, n: usize, cols: &[Column]) -> Vec<(f32, Vec<f32>)> {
    let active = cols.iter().filter(|c| c.weight > 0.0).count();
    let total_w: f32 = cols.iter().map(|c| c.weight).sum();
    if active == 0 || total_w <= 0.0 {
        return vec![(0.0, vec![0.0; cols.len()]); n];
    }
    // Per signal, each candidate's part (before the shares are taken).
    let parts: Vec<Vec<f32>> = match fusion {
        Fusion::Evidence => {
            let mean_w = total_w / active as f32;
            cols.iter()
                .map(|c| {
                    c.values
                        .iter()
                        .map(|e| -(c.weight / mean_w) * (1.0 - e.clamp(0.0, MAX_EVIDENCE)).ln())
                        .collect()
                })
                .collect()
        }
        Fusion::MinMax => cols
            .iter()
            .map(|c| {
                let lo = c.values.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = c.values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                c.values
                    .iter()
                    .map(|&x| {
                        let s = if hi - lo > 1e-9 {
                            (x - lo) / (hi - lo)
                        } else {
                            0.0
                        };
                        c.weight * s / total_w
                    })
                    .collect()
            })
            .collect(),
        Fusion::Rrf => cols
            .iter()
            .map(|c| {
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| c.values[b].total_cmp(&c.values[a]));
                let mut part = vec![0f32; n];
                for (rank, i) in order.into_iter().enumerate() {
                    part[i] = c.weight / (RRF_K + rank as f32 + 1.0);
                }
                part
            })
            .collect(),
    };
    (0..n)
        .map(|i| {
            let sum: f32 = parts.iter().map(|p| p[i]).sum();
            let fused = match fusion {
                Fusion::Evidence => 1.0 - (-sum).exp(),
                _ => sum,
            };
            let shares = parts
                .iter()
                .map(|p| if sum > 0.0 { p[i] / sum } else { 0.0 })
                .collect();
            (fused, shares)
        })
        .collect()
}

/// How many of the results, in ranked order with these fused scores, are strong matches: those
/// before the first drop between consecutive scores, among the first [`CUT_WINDOW`] and any
/// further ones scoring at least [`NEAR_CERTAIN`], that is at least half the largest such drop
/// (a later, deeper drop only separates weak tiers; but 55 products in the colour asked for,
/// each a full keyword match, are one tier, not one match and 54 split by hair-width drops).
/// Where the largest drop among those, or one at least as wide as the near-certain band
/// (`1 - NEAR_CERTAIN`), is where the results scoring at least [`NEAR_CERTAIN`] end, they end
/// there: for "blue bag" the blue bags are strong, not the other bags, which come before a
/// deeper drop to products of other kinds; for "blue tank" the blue tanks, though a slightly
/// deeper drop parts the other tanks from the bra tops of "Bras & Tanks". None when the best
/// scores 0.
pub fn strong_matches(scores: &[f32]) -> usize {
    if scores.first().is_none_or(|&s| s <= 0.0) {
        return 0;
    }
    // The window also holds every result the signals are near-certain of, however many.
    let certain = scores.iter().take_while(|&&s| s >= NEAR_CERTAIN).count();
    let window = scores.len().min(CUT_WINDOW.max(certain) + 1);
    let drops: Vec<f32> = scores[..window].windows(2).map(|w| w[0] - w[1]).collect();
    let largest = drops.iter().copied().fold(0f32, f32::max);
    let all = window.min(CUT_WINDOW.max(certain));
    if largest <= 0.0 {
        return all;
    }
    let cut = drops
        .iter()
        .position(|&d| d >= largest / 2.0)
        .map_or(all, |i| i + 1);
    // Where the largest drop among them (or one out of the near-certain band) is where the
    // near-certain results end, those are the strong matches: the rest is a weaker tier above
    // a deeper drop.
    let kept = &drops[..cut.saturating_sub(1)];
    let inner = kept.iter().copied().fold(0f32, f32::max);
    if certain > 0 && certain < cut && kept[certain - 1] >= inner.min(1.0 - NEAR_CERTAIN) {
        certain
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_evidence_is_measured_against_chance() {
        // 100 products: chance reaches about 3 standard deviations.
        let values: Vec<f32> = (0..100).map(|i| (i % 10) as f32 / 10.0).collect();
        let s = Spread::of(&values);
        let sd = s.sd;
        assert_eq!(s.evidence(s.mean), 0.0);
        let chance = (2.0 * 100f32.ln()).sqrt();
        assert!((s.evidence(s.mean + chance * sd) - 0.5).abs() < 1e-4);
        assert_eq!(s.evidence(s.mean + 10.0 * sd), 1.0);
        // A flat signal gives no evidence.
        assert_eq!(Spread::of(&[0.3; 50]).evidence(0.3), 0.0);
    }

    #[test]
    fn keyword_evidence_rewards_every_word_matched() {
        assert_eq!(keyword_evidence(1.0, 0.0, 1.0, None), 1.0);
        assert_eq!(keyword_evidence(1.0, 0.0, 0.0, None), 0.5);
        assert!(keyword_evidence(0.3, 0.0, 1.0, None) < keyword_evidence(1.0, 0.0, 0.2, None));
        assert_eq!(keyword_evidence(0.0, 0.0, 1.0, None), 0.0);
        // A product with none of the query's words (an empty sum, -0.0) shows 0, not -0.
        assert!(keyword_evidence(-0.0, 0.0, 0.0, None).is_sign_positive());
    }

    #[test]
    fn of_equal_shares_the_product_of_the_kind_asked_for_scores_more() {
        // Half of "pants for running" each: a pant low in BM25, a running short high.
        let pant = keyword_evidence(0.5, 0.0, 0.4, Some(1.0));
        let short = keyword_evidence(0.5, 0.0, 0.9, Some(0.0));
        assert!(pant > short, "{pant} {short}");
        // Of "mens yoga pants", men's pants with two thirds of it come before a women's yoga
        // pant with as much, BM25 high or low; but not before all of the query.
        let mens_pant = keyword_evidence(2.0 / 3.0, 0.0, 0.2, Some(1.0));
        let womens_yoga_pant = keyword_evidence(2.0 / 3.0, 0.0, 1.0, Some(0.5));
        assert!(
            mens_pant > womens_yoga_pant,
            "{mens_pant} {womens_yoga_pant}"
        );
        assert!(keyword_evidence(1.0, 0.0, 0.0, Some(1.0)) > mens_pant);
        // A product of none of the kinds asked for counts half; a query naming none is as it was.
        assert_eq!(keyword_evidence(0.5, 0.0, 0.0, Some(0.0)), 0.125);
        assert_eq!(keyword_evidence(1.0, 0.0, 1.0, Some(1.0)), 1.0);
        assert_eq!(
            keyword_evidence(0.5, 0.0, 0.9, None),
            keyword_evidence(0.5, 0.0, 0.9, Some(1.0))
        );
    }

    #[test]
    fn a_share_that_stands_out_counts_although_most_words_are_unmatched() {
        // A long query: one product has a third of its word weight, the other 99 a tenth or none.
        let shares: Vec<f32> = (0..100)
            .map(|i| match i {
                0 => 0.33,
                _ if i % 3 == 0 => 0.1,
                _ => 0.0,
            })
            .collect();
        let spread = Spread::of_shares(&shares, 9);
        let ev = |c: f32| keyword_evidence(c, share_standout(&spread, c, 0.33), 1.0, None);
        assert!(ev(0.33) > 0.8, "{}", ev(0.33));
        assert!(ev(0.1) < 0.2, "{}", ev(0.1));
        // A short query matched in full by a third of the catalog keeps its full share.
        let common: Vec<f32> = (0..99)
            .map(|i| if i % 3 == 0 { 1.0 } else { 0.0 })
            .collect();
        let spread = Spread::of_shares(&common, 2);
        assert_eq!(
            keyword_evidence(1.0, share_standout(&spread, 1.0, 1.0), 1.0, None),
            1.0
        );
        assert!(share_standout(&spread, 1.0, 1.0) < 0.5);
        // Two products far above the rest: the one with every word stays ahead of the one
        // without the query's rarest word, as their shares say.
        let mut two = vec![0.0f32; 100];
        (two[0], two[1]) = (1.0, 0.8);
        let spread = Spread::of_shares(&two, 10);
        let (a, b) = (
            share_standout(&spread, 1.0, 1.0),
            share_standout(&spread, 0.8, 1.0),
        );
        assert!(spread.evidence(0.8) == 1.0 && a == 1.0 && (b - 0.8).abs() < 1e-6);
        assert_eq!(share_standout(&Spread::of(&[0.0; 10]), 0.0, 0.0), 0.0);
    }

    #[test]
    fn one_rare_word_of_a_long_query_does_not_stand_out() {
        // A review of 20 words of like weight; one product of 200 has one of them in its title,
        // no other product has any. As a z-score alone that one word would be certain.
        let mut shares = vec![0.0f32; 200];
        shares[0] = 0.05;
        assert_eq!(share_standout(&Spread::of(&shares), 0.05, 0.05), 1.0);
        let spread = Spread::of_shares(&shares, 20);
        let one = keyword_evidence(0.05, share_standout(&spread, 0.05, 0.05), 1.0, None);
        assert!(one < 0.35, "{one}");
        // A product with half of those words, the rest of the catalog one or none, does.
        let mut shares: Vec<f32> = (0..200).map(|i| [0.0, 0.05][i % 2]).collect();
        shares[0] = 0.5;
        let spread = Spread::of_shares(&shares, 20);
        let half = keyword_evidence(0.5, share_standout(&spread, 0.5, 0.5), 1.0, None);
        assert!(half > 0.9, "{half}");
        // The floor is the spread of one word that half of the catalog has.
        let even: Vec<f32> = (0..200).map(|i| [0.0, 0.05][i % 2]).collect();
        assert!((Spread::of(&even).sd - Spread::of_shares(&even, 20).sd).abs() < 1e-6);
    }

    fn ranked(fusion: Fusion, cols: &[Column]) -> Vec<usize> {
        let f = fuse(fusion, cols[0].values.len(), cols);
        let mut order: Vec<usize> = (0..f.len()).collect();
        order.sort_by(|&a, &b| f[b].0.total_cmp(&f[a].0));
        order
    }

    #[test]
    fn a_decisive_signal_is_not_outvoted_by_an_undecided_one() {
        // Keywords single out product 0; the text signal barely prefers product 1.
        let keyword = [0.9, 0.1, 0.1, 0.0];
        let text = [0.30, 0.40, 0.35, 0.30];
        let cols = [
            Column {
                weight: 1.0,
                values: &keyword,
            },
            Column {
                weight: 1.0,
                values: &text,
            },
        ];
        assert_eq!(ranked(Fusion::Evidence, &cols)[0], 0);
        // Min-max stretches the text signal's small lead to the full range and loses product 0.
        assert_eq!(ranked(Fusion::MinMax, &cols)[0], 1);
        let f = fuse(Fusion::Evidence, 4, &cols);
        let shares = &f[0].1;
        assert!((shares.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(shares[0] > 0.8, "{shares:?}");
        // 1 - (1 - 0.9)(1 - 0.3)
        assert!((f[0].0 - 0.93).abs() < 1e-4);
    }

    #[test]
    fn weights_scale_a_signal_and_zero_switches_it_off() {
        let a = [0.8, 0.2];
        let b = [0.1, 0.9];
        let cols = |wa: f32, wb: f32| {
            [
                Column {
                    weight: wa,
                    values: &a,
                },
                Column {
                    weight: wb,
                    values: &b,
                },
            ]
        };
        for fusion in Fusion::ALL {
            assert_eq!(ranked(fusion, &cols(1.0, 0.0))[0], 0, "{fusion:?}");
            assert_eq!(ranked(fusion, &cols(0.0, 1.0))[0], 1, "{fusion:?}");
            assert_eq!(ranked(fusion, &cols(1.0, 5.0))[0], 1, "{fusion:?}");
        }
        assert!(
            fuse(Fusion::Evidence, 2, &cols(0.0, 0.0))
                .iter()
                .all(|f| f.0 == 0.0)
        );
        // Without any signal every candidate is still there, scoring 0.
        assert_eq!(fuse(Fusion::Evidence, 3, &[]).len(), 3);
        // Scaling every weight changes nothing.
        let x = fuse(Fusion::Evidence, 2, &cols(1.0, 1.0));
        let y = fuse(Fusion::Evidence, 2, &cols(3.0, 3.0));
        assert!((x[0].0 - y[0].0).abs() < 1e-6);
    }

    #[test]
    fn rrf_adds_reciprocal_ranks() {
        let a = [3.0, 2.0, 1.0];
        let b = [1.0, 3.0, 2.0];
        let f = fuse(
            Fusion::Rrf,
            3,
            &[
                Column {
                    weight: 1.0,
                    values: &a,
                },
                Column {
                    weight: 1.0,
                    values: &b,
                },
            ],
        );
        assert!((f[1].0 - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-7);
        assert!((f[0].0 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-7);
    }

    #[test]
    fn strong_matches_end_at_the_largest_drop() {
        assert_eq!(strong_matches(&[0.9, 0.88, 0.85, 0.4, 0.38, 0.1]), 3);
        assert_eq!(strong_matches(&[0.9, 0.3, 0.29, 0.28]), 1);
        // A deeper drop further down only separates weak tiers.
        assert_eq!(strong_matches(&[0.99, 0.97, 0.62, 0.6, 0.56, 0.15]), 2);
        // Three tiers: the near-certain ones, products of the kind alone, the rest; a tier
        // that goes on below the near-certain ones without a drop there is one tier.
        assert_eq!(
            strong_matches(&[1.0, 0.99, 0.94, 0.85, 0.8, 0.75, 0.7, 0.35, 0.3]),
            3
        );
        assert_eq!(strong_matches(&[0.85, 0.8, 0.75, 0.7, 0.35, 0.3]), 4);
        // Four tiers ("blue tank": the blue tanks, the other tanks, the bra tops of "Bras &
        // Tanks", the rest): a drop out of the near-certain band ends the strong matches, though
        // the one after the other tanks is a little deeper.
        let mut tanks = vec![0.99; 9];
        tanks.extend([
            0.88, 0.81, 0.8, 0.79, 0.78, 0.77, 0.654, 0.65, 0.35, 0.33, 0.3,
        ]);
        assert_eq!(strong_matches(&tanks), 9);
        // A hair-width drop at the end of the near-certain ones ends nothing.
        let pants = [
            0.902, 0.894, 0.88, 0.865, 0.863, 0.859, 0.856, 0.642, 0.63, 0.6,
        ];
        assert_eq!(strong_matches(&pants), 7);
        assert_eq!(strong_matches(&[0.95, 0.92, 0.89, 0.85, 0.82, 0.3]), 5);
        assert_eq!(strong_matches(&[]), 0);
        assert_eq!(strong_matches(&[0.0, 0.0]), 0);
        assert_eq!(strong_matches(&[0.5]), 1);
        // Without any drop in the window, the whole window.
        let flat = vec![0.5; 80];
        assert_eq!(strong_matches(&flat), CUT_WINDOW);
        // A drop after the window is not looked at...
        let mut late = vec![0.8; 60];
        late.extend([0.1; 10]);
        assert_eq!(strong_matches(&late), CUT_WINDOW);
        // ... unless every result before it is near-certain: a long tier of full matches
        // whose scores differ by hairs is not cut after its first.
        let mut tier: Vec<f32> = (0..55).map(|i| 0.999 - 0.0013 * i as f32).collect();
        tier.extend([0.63, 0.57, 0.33, 0.2]);
        assert_eq!(strong_matches(&tier), 55);
        let mut late = vec![0.95; 60];
        late.extend([0.1; 10]);
        assert_eq!(strong_matches(&late), 60);
    }
}
