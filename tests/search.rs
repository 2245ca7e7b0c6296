//! Search on the Luma catalog: text with the product-text and keyword signals (real MiniLM),
//! and photo and photo+text queries through the tiny CLIP fixture.

mod common;

use std::collections::HashSet;

use common::*;
use vitrine::Catalog;
use vitrine::model_choice::Encoders;
use vitrine::query::{Filters, PhotoInput, Query, Sort, Weights};
use vitrine::search::{SearchResults, Searcher, Signal, Spelling};

fn searcher() -> Searcher {
    let catalog = Catalog::open(catalog_dir()).unwrap();
    common::searcher(&catalog)
}

/// Product text and keywords only (the tiny CLIP's random weights make its cross-modal
/// scores noise).
fn text_weights() -> Weights {
    Weights {
        crossmodal: 0.0,
        ..Weights::default()
    }
}

fn text_query(t: &str) -> Query {
    Query {
        text: t.into(),
        ..Query::default()
    }
}

fn skus(r: &SearchResults) -> Vec<String> {
    r.hits.iter().map(|h| h.sku.clone()).collect()
}

#[test]
fn backpack_returns_the_backpacks_first() {
    let s = searcher();
    let r = s
        .search(&text_query("backpack"), &text_weights(), 5, 0)
        .unwrap();
    assert_eq!(r.hits.len(), 5);
    // The catalog's four backpacks; the fifth hit is a water bottle whose description
    // mentions a backpack.
    for h in &r.hits[..4] {
        assert_eq!(h.category, "Gear/Bags", "{} {}", h.sku, h.title);
    }
    assert!(r.hits[..4].iter().all(|h| h.title.contains("Backpack")));
    let kinds: Vec<Signal> = r.hits[0].signals.iter().map(|s| s.signal).collect();
    assert_eq!(
        kinds,
        vec![Signal::Crossmodal, Signal::Text, Signal::Keyword]
    );
    assert!(
        r.hits[0]
            .signals
            .iter()
            .all(|s| (0.0..=1.0).contains(&s.score))
    );
}

#[test]
fn price_and_category_filters_exclude_what_they_should() {
    let s = searcher();
    let all = s
        .search(&text_query("backpack"), &text_weights(), 5, 0)
        .unwrap();
    assert!(
        all.hits.iter().any(|h| h.price.unwrap() > 40.0),
        "a pricier backpack ranks without the filter"
    );
    let cheap = s
        .search(&text_query("backpack under 40"), &text_weights(), 20, 0)
        .unwrap();
    assert_eq!(cheap.filters.max_price, Some(40.0));
    assert!(cheap.hits.iter().all(|h| h.price.unwrap() <= 40.0));
    assert!(cheap.total < all.total);

    let mut q = text_query("jacket");
    q.filters = Filters {
        category: Some("women/tops".into()),
        min_price: Some(50.0),
        ..Filters::default()
    };
    let r = s.search(&q, &text_weights(), 50, 0).unwrap();
    assert!(!r.hits.is_empty());
    for h in &r.hits {
        assert!(h.category.starts_with("Women/Tops/"), "{}", h.category);
        assert!(h.price.unwrap() >= 50.0);
    }
    assert_eq!(r.total, r.hits.len());

    q.filters = Filters {
        color: Some("purple".into()),
        ..Filters::default()
    };
    let r = s.search(&q, &text_weights(), 10, 0).unwrap();
    for h in &r.hits {
        assert!(h.color.to_lowercase().contains("purple"), "{}", h.color);
        assert_eq!(
            h.matched_image.as_ref().unwrap().color,
            "Purple",
            "the photo shown is a purple one"
        );
    }
}

#[test]
fn the_keyword_weight_reorders_without_encoding_again() {
    let s = searcher();
    let q = text_query("yoga");
    let prepared = s.prepare(&q).unwrap();
    let with = s.rank(&prepared, &text_weights(), 15, 0);
    let without = s.rank(
        &prepared,
        &Weights {
            keyword: 0.0,
            ..text_weights()
        },
        15,
        0,
    );
    assert_ne!(
        skus(&with),
        skus(&without),
        "the keyword signal matters for this query"
    );
    // As documented: with the keyword weight at 0, the fused score is the text-meaning score.
    for h in &without.hits {
        let text = h
            .signals
            .iter()
            .find(|s| s.signal == Signal::Text)
            .unwrap()
            .score;
        assert!((h.score - text).abs() < 1e-6);
    }
    let back = s.rank(&prepared, &text_weights(), 15, 0);
    assert_eq!(skus(&with), skus(&back));
    assert_eq!(
        skus(&with),
        skus(&s.search(&q, &text_weights(), 15, 0).unwrap())
    );
    // The fused score combines the signals' evidence as independent witnesses:
    // 1 - Π (1 - e)^(w / mean w), the mean over the weights above 0.
    for h in &with.hits {
        let on: Vec<_> = h.signals.iter().filter(|s| s.weight > 0.0).collect();
        let mean_w = on.iter().map(|s| s.weight).sum::<f32>() / on.len() as f32;
        let kept: f32 = on
            .iter()
            .map(|s| (1.0 - s.score.min(0.999)).powf(s.weight / mean_w))
            .product();
        assert!(
            (h.score - (1.0 - kept)).abs() < 1e-5,
            "{} {}",
            h.score,
            1.0 - kept
        );
    }
}

#[test]
fn a_not_term_demotes_the_products_that_match_it() {
    let s = searcher();
    let catalog = Catalog::open(catalog_dir()).unwrap();
    let before = s
        .search(&text_query("hoodie"), &text_weights(), 196, 0)
        .unwrap();
    let zipped: Vec<String> = before.hits[..10]
        .iter()
        .filter(|h| {
            catalog
                .product(&h.sku)
                .unwrap()
                .description
                .to_lowercase()
                .contains("zip")
        })
        .map(|h| h.sku.clone())
        .collect();
    assert!(!zipped.is_empty(), "some top hoodies mention a zip");
    let mut q = text_query("hoodie");
    q.not = vec!["zip".into()];
    let after = s.search(&q, &text_weights(), 196, 0).unwrap();
    let pos = |r: &SearchResults, sku: &str| r.hits.iter().position(|h| h.sku == sku).unwrap();
    for sku in &zipped {
        assert!(pos(&after, sku) > pos(&before, sku), "{sku} moved down");
        assert_eq!(after.hits[pos(&after, sku)].penalty, 1.0);
    }
    // What the term rules out keeps its order among itself: the zipped hoodies lead it, not
    // whatever comes first by SKU.
    let ruled_out: Vec<&str> = after
        .hits
        .iter()
        .filter(|h| h.penalty == 1.0)
        .map(|h| h.sku.as_str())
        .collect();
    let as_before: Vec<&str> = before
        .hits
        .iter()
        .map(|h| h.sku.as_str())
        .filter(|s| ruled_out.contains(s))
        .collect();
    assert!(ruled_out.len() > zipped.len());
    assert_eq!(ruled_out, as_before);
    // Typed as "hoodie without zip" it does the same.
    let typed = s
        .search(&text_query("hoodie without zip"), &text_weights(), 196, 0)
        .unwrap();
    assert_eq!(skus(&typed), skus(&after));
}

#[test]
fn a_query_that_is_a_sku_finds_that_product_alone_as_the_strong_match() {
    let s = searcher();
    for typed in ["MH07", "mh07"] {
        let r = s
            .search(&text_query(typed), &text_weights(), 10, 0)
            .unwrap();
        assert_eq!((r.hits[0].sku.as_str(), r.strong), ("MH07", 1), "{typed}");
    }
}

#[test]
fn the_title_says_which_kind_of_a_two_kind_leaf_a_product_is() {
    // Luma's "Breathe-Easy Tank" of "Bras & Tanks" is worn "over your sports bra": a tank, not
    // a bra. Every bra of the leaf comes before every tank.
    let s = searcher();
    let r = s
        .search(&text_query("sports bra"), &text_weights(), 20, 0)
        .unwrap();
    let at = |word: &str| -> Vec<usize> {
        r.hits
            .iter()
            .enumerate()
            .filter(|(_, h)| h.title.split_whitespace().any(|w| w == word))
            .map(|(i, _)| i)
            .collect()
    };
    let (bras, tanks) = (at("Bra"), at("Tank"));
    assert!(bras.len() >= 5 && !tanks.is_empty(), "{bras:?} {tanks:?}");
    assert!(bras.iter().max() < tanks.iter().min(), "{bras:?} {tanks:?}");
}

#[test]
fn a_shade_no_product_is_coloured_finds_the_colours_it_is_a_shade_of_and_says_so() {
    // Luma's colours are basic ones: "violet" is read as its "Purple", and the user is told.
    let s = searcher();
    let search = |q: &str| s.search(&text_query(q), &text_weights(), 20, 0).unwrap();
    let (violet, purple) = (search("violet hoodie"), search("purple hoodie"));
    assert_eq!(
        violet.spelling,
        vec![Spelling {
            typed: "violet".into(),
            read: "purple".into(),
            colour: true,
        }]
    );
    // The same strong matches as "purple hoodie": purple hoodies first.
    assert_eq!(violet.strong, purple.strong);
    assert_eq!(
        skus(&violet)[..violet.strong],
        skus(&purple)[..purple.strong]
    );
    for h in &violet.hits[..5] {
        assert!(
            h.color.contains("Purple") && h.category.contains("Hoodies"),
            "{} {}",
            h.title,
            h.color
        );
    }
    // "purple" counts "Lavender" products, a shade of it, in part: less than any purple one.
    let r = s
        .search(&text_query("purple"), &text_weights(), 196, 0)
        .unwrap();
    let keyword = |h: &vitrine::search::Hit| {
        h.signals
            .iter()
            .find(|x| x.signal == Signal::Keyword)
            .map_or(0.0, |x| x.score)
    };
    let of = |colour: &str| -> Vec<f32> {
        r.hits
            .iter()
            .filter(|h| {
                h.color.contains(colour) && !(colour == "Lavender" && h.color.contains("Purple"))
            })
            .map(keyword)
            .collect()
    };
    let (purple, lavender) = (of("Purple"), of("Lavender"));
    assert!(!lavender.is_empty());
    let least_purple = purple.iter().copied().fold(1.0, f32::min);
    assert!(
        lavender.iter().all(|&k| k > 0.0 && k < least_purple),
        "{lavender:?} {least_purple}"
    );
    // A colour the catalog names is searched as it is.
    assert!(search("lavender hoodie").spelling.is_empty());
}

#[test]
fn a_colour_asked_for_counts_every_product_in_it_as_a_strong_match() {
    // More products in green than the cut's window of 50, each a full keyword match: one tier.
    let s = searcher();
    let catalog = Catalog::open(catalog_dir()).unwrap();
    let green: HashSet<String> = catalog
        .products(&Default::default())
        .unwrap()
        .into_iter()
        .filter(|p| p.color.to_lowercase().contains("green"))
        .map(|p| p.sku)
        .collect();
    assert!(green.len() > vitrine::fusion::CUT_WINDOW, "{}", green.len());
    let r = s
        .search(&text_query("green"), &text_weights(), 196, 0)
        .unwrap();
    let strong: HashSet<String> = r.hits[..r.strong].iter().map(|h| h.sku.clone()).collect();
    assert_eq!(strong, green);
}

#[test]
fn a_typed_not_alone_puts_what_it_names_last_and_a_sentence_keeps_its_words() {
    let s = searcher();
    let r = s
        .search(&text_query("NOT bag"), &text_weights(), 196, 0)
        .unwrap();
    assert_eq!(r.not, vec!["bag"]);
    assert_eq!(
        r.strong, 0,
        "nothing is asked for, so nothing is a strong match"
    );
    let first_bag = r
        .hits
        .iter()
        .position(|h| h.category == "Gear/Bags")
        .unwrap();
    assert!(first_bag > 150, "bags start at {first_bag}");
    let long = "I need a jacket that is not too heavy but still warm enough for no rain";
    let r = s.search(&text_query(long), &text_weights(), 10, 0).unwrap();
    assert_eq!((r.text.as_str(), r.not.len()), (long, 0));
    assert!(r.hits.iter().all(|h| h.penalty == 0.0));
}

#[test]
fn no_before_the_words_of_a_short_query_excludes_unless_the_catalog_writes_it() {
    let s = searcher();
    let r = s
        .search(&text_query("no zip hoodie"), &text_weights(), 196, 0)
        .unwrap();
    assert_eq!(
        (r.text.as_str(), r.not.clone()),
        ("hoodie", vec!["zip".into()])
    );
    assert_eq!(
        (r.read[0].kind.as_str(), r.read[0].phrase.as_str()),
        ("not", "no zip")
    );
    assert!(r.strong > 3, "{}", r.strong);
    let zipped = |t: &str| t.to_lowercase().contains("zip");
    assert!(
        r.hits[..r.strong].iter().all(|h| !zipped(&h.title)),
        "{:?}",
        skus(&r)
    );
    // Luma's leggings are "no roll": the words are what is asked for.
    let r = s
        .search(&text_query("no roll leggings"), &text_weights(), 5, 0)
        .unwrap();
    assert_eq!((r.text.as_str(), r.not.len()), ("no roll leggings", 0));
}

#[test]
fn a_misspelt_word_is_searched_as_the_catalog_word_and_said_so() {
    let s = searcher();
    // The typo's results are the right word's, and say what was typed and what was read.
    let read_as = |typo: &str, right: &str, typed: &str, read: &str| {
        let search = |q: &str| s.search(&text_query(q), &text_weights(), 10, 0).unwrap();
        let (t, r) = (search(typo), search(right));
        let said = vec![Spelling {
            typed: typed.into(),
            read: read.into(),
            colour: false,
        }];
        assert_eq!(t.spelling, said, "{typo}");
        assert_eq!(skus(&t), skus(&r), "{typo}");
        assert!(r.spelling.is_empty(), "{right}");
    };
    read_as("blue bakpack", "blue backpack", "bakpack", "backpack");
    // A plural is measured and said as typed: "watvhes" is one typo from "watches".
    read_as("watvhes", "watches", "watvhes", "watches");
    // A word of the language that no product has is not a typo: "beads" is not "beat".
    let r = s
        .search(&text_query("rain beads off"), &text_weights(), 10, 0)
        .unwrap();
    assert!(r.spelling.is_empty(), "{:?}", r.spelling);
}

#[test]
fn a_correction_must_be_met_by_the_other_words_of_the_query_in_some_product() {
    let (_dir, s) = searcher_of(
        "sku,title,category\n\
         T0,Striker Team Jersey,Sports/Team Sports\nT1,Goalie Team Gloves,Sports/Team Sports\n\
         C0,Oslo Fabric Couch,Furniture/Couches\nC1,Bergen Leather Couch,Furniture/Couches\n\
         L0,Wipro Light Bulb,Lighting/Bulbs\nL1,Syska Light Bulb,Lighting/Bulbs\n",
    );
    let search = |q: &str| s.search(&text_query(q), &Weights::default(), 6, 0).unwrap();
    let read = |r: &SearchResults| {
        r.spelling
            .iter()
            .map(|s| s.read.clone())
            .collect::<Vec<_>>()
    };
    // "teak" is one letter from "team", but no team product is a couch: the word is what the
    // catalog lacks, not a typo, and the couches come first.
    let r = search("teak couch");
    assert!(r.spelling.is_empty(), "{:?}", r.spelling);
    assert_eq!(r.unknown, ["teak"]);
    assert!(
        skus(&r)[..2].iter().all(|s| s.starts_with('C')),
        "{:?}",
        skus(&r)
    );
    // Where products have the correction with another word of the query, it is read.
    for (q, word, kind) in [("ligth bulb", "light", 'L'), ("tema jersey", "team", 'T')] {
        let r = search(q);
        assert_eq!(read(&r), [word], "{q}");
        assert!(skus(&r)[0].starts_with(kind), "{q}: {:?}", skus(&r));
    }
}

#[test]
fn a_word_no_product_has_is_said_unless_it_was_read_as_another() {
    let s = searcher();
    let unknown = |q: &str| {
        s.search(&text_query(q), &text_weights(), 5, 0)
            .unwrap()
            .unknown
    };
    // Luma sells no sunglasses: the results are whatever the meaning finds, and say why.
    assert_eq!(unknown("sunglasses for men"), ["sunglasses"]);
    // A typo, a shade and words run together are read as the catalog's words.
    for q in ["hoodei", "violet hoodie", "yogastrap", "men's hoodies"] {
        assert!(unknown(q).is_empty(), "{q}: {:?}", unknown(q));
    }
    // A sentence is not picked apart word by word.
    assert!(unknown("my husband wears these sunglasses every day on his long walks").is_empty());
}

#[test]
fn words_run_together_or_written_apart_find_what_the_catalog_writes() {
    let s = searcher();
    let search = |q: &str| s.search(&text_query(q), &text_weights(), 10, 0).unwrap();
    // Luma writes "V-Neck": "vneck" is that word (a letter hyphenated to the next word is
    // also the two as one), no misspelling, and finds what "v-neck" does.
    let r = search("vneck tee");
    assert!(r.spelling.is_empty(), "{:?}", r.spelling);
    assert_eq!(skus(&r)[..3], skus(&search("v-neck tee"))[..3]);
    assert!(
        r.hits[..3]
            .iter()
            .all(|h| h.title.to_lowercase().contains("v-neck")),
        "{:?}",
        r.hits.iter().map(|h| &h.title).collect::<Vec<_>>()
    );
    // In a "not" term too: every v-neck tee is left out, as with "not v-neck".
    let r = s
        .search(&text_query("tee without vneck"), &text_weights(), 196, 0)
        .unwrap();
    let vnecks: Vec<f32> = r
        .hits
        .iter()
        .filter(|h| h.title.to_lowercase().contains("v-neck"))
        .map(|h| h.penalty)
        .collect();
    assert!(
        vnecks.len() >= 3 && vnecks.iter().all(|&p| p == 1.0),
        "{vnecks:?}"
    );
    // "sweat shirt" finds the sweatshirts, as "sweatshirt" does.
    let apart = search("sweat shirt");
    assert!(
        apart.hits[..5]
            .iter()
            .all(|h| h.title.contains("Sweatshirt")),
        "{:?}",
        apart.hits.iter().map(|h| &h.title).collect::<Vec<_>>()
    );
    // "woman's jacket" finds the women's jackets (Luma writes "Women").
    let r = search("woman's jacket");
    assert!(
        r.hits.iter().all(|h| h.category.starts_with("Women/")),
        "{:?}",
        skus(&r)
    );
}

#[test]
fn more_and_less_like_these_move_the_other_results() {
    let s = searcher();
    let base = s
        .search(&text_query("bag"), &text_weights(), 196, 0)
        .unwrap();
    let first = |word: &str| {
        base.hits
            .iter()
            .find(|h| h.title.contains(word))
            .unwrap()
            .sku
            .clone()
    };
    let (backpack, duffle) = (first("Backpack"), first("Duffle"));
    let mean_rank = |r: &SearchResults, word: &str, skip: &str| {
        let ranks: Vec<f32> = r
            .hits
            .iter()
            .filter(|h| h.title.contains(word) && h.sku != skip)
            .map(|h| h.rank as f32)
            .collect();
        ranks.iter().sum::<f32>() / ranks.len() as f32
    };
    let mut q = text_query("bag");
    q.more = vec![backpack.clone()];
    q.less = vec![duffle.clone()];
    let moved = s.search(&q, &text_weights(), 196, 0).unwrap();
    assert!(
        mean_rank(&moved, "Backpack", &backpack) < mean_rank(&base, "Backpack", &backpack),
        "the other backpacks move up"
    );
    assert!(
        mean_rank(&moved, "Duffle", &duffle) > mean_rank(&base, "Duffle", &duffle),
        "the other duffles move down"
    );
    // Undo: without the marks, the first order comes back.
    let again = s
        .search(&text_query("bag"), &text_weights(), 196, 0)
        .unwrap();
    assert_eq!(skus(&again), skus(&base));
    q.more = vec!["NO-SUCH-SKU".into()];
    assert!(s.search(&q, &text_weights(), 10, 0).is_err());
}

#[test]
fn strong_matches_end_where_relevance_drops() {
    let s = searcher();
    // A product's own title singles it out.
    let r = s
        .search(&text_query("Joust Duffle Bag"), &text_weights(), 196, 0)
        .unwrap();
    assert_eq!(r.hits[0].title, "Joust Duffle Bag");
    assert!((1..=3).contains(&r.strong), "{}", r.strong);
    // Every shorts product is a strong match for "shorts", and few others are.
    let r = s
        .search(&text_query("shorts"), &text_weights(), 196, 0)
        .unwrap();
    let shorts = r
        .hits
        .iter()
        .filter(|h| h.category.ends_with("/Shorts"))
        .count();
    let strong_shorts = r.hits[..r.strong]
        .iter()
        .filter(|h| h.category.ends_with("/Shorts"))
        .count();
    assert_eq!(strong_shorts, shorts);
    assert!(
        r.strong <= shorts + 2,
        "{} strong, {shorts} shorts",
        r.strong
    );
    // Each hit's signals say what share of its score they gave.
    let h = &r.hits[0];
    let shares: f32 = h.signals.iter().map(|x| x.share).sum();
    assert!((shares - 1.0).abs() < 1e-4, "{shares}");
    // A colour and a kind: the bags in blue are the strong matches, not every bag, although
    // the deepest drop is after the last bag.
    let r = s
        .search(&text_query("blue bag"), &text_weights(), 196, 0)
        .unwrap();
    let strong = &r.hits[..r.strong];
    assert!(!strong.is_empty());
    assert!(
        strong
            .iter()
            .all(|h| h.category == "Gear/Bags" && h.color.contains("Blue")),
        "{:?}",
        skus(&r)
    );
    let bags = r.hits.iter().filter(|h| h.category == "Gear/Bags").count();
    assert!(r.hits[..bags].iter().all(|h| h.category == "Gear/Bags"));
}

#[test]
fn a_price_sort_orders_the_strong_matches_then_the_rest_and_keeps_them_apart() {
    let s = searcher();
    let relevance = s
        .search(&text_query("shorts"), &text_weights(), 196, 0)
        .unwrap();
    for (sort, ascending) in [(Sort::PriceLow, true), (Sort::PriceHigh, false)] {
        let q = Query {
            sort,
            ..text_query("shorts")
        };
        let r = s.search(&q, &text_weights(), 196, 0).unwrap();
        assert_eq!(r.strong, relevance.strong);
        let mut strong = skus(&r)[..r.strong].to_vec();
        let mut before = skus(&relevance)[..r.strong].to_vec();
        strong.sort();
        before.sort();
        assert_eq!(
            strong, before,
            "a price sort changes the order, not what is strong"
        );
        for part in [&r.hits[..r.strong], &r.hits[r.strong..]] {
            let prices: Vec<f64> = part.iter().filter_map(|h| h.price).collect();
            assert!(
                prices.windows(2).all(|w| if ascending {
                    w[0] <= w[1]
                } else {
                    w[0] >= w[1]
                }),
                "{sort:?}: {prices:?}"
            );
        }
    }
}

#[test]
fn cheapest_in_the_text_sorts_by_price_and_a_chosen_order_wins() {
    let s = searcher();
    let r = s
        .search(&text_query("cheapest hoodie"), &text_weights(), 196, 0)
        .unwrap();
    let hoodies = s
        .search(&text_query("hoodie"), &text_weights(), 196, 0)
        .unwrap();
    assert_eq!((r.text.as_str(), r.sort), ("hoodie", Sort::PriceLow));
    assert_eq!(r.read[0].kind, "sort");
    let mut strong = skus(&r)[..r.strong].to_vec();
    let mut asked = skus(&hoodies)[..hoodies.strong].to_vec();
    strong.sort();
    asked.sort();
    assert_eq!(
        strong, asked,
        "the word orders the hoodies, it is not searched for"
    );
    let prices: Vec<f64> = r.hits[..r.strong].iter().filter_map(|h| h.price).collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
    let chosen = Query {
        sort: Sort::PriceHigh,
        ..text_query("cheapest hoodie")
    };
    let r = s.search(&chosen, &text_weights(), 196, 0).unwrap();
    assert_eq!(r.sort, Sort::PriceHigh);
}

#[test]
fn a_photo_query_finds_its_product_and_explains_why() {
    let s = searcher();
    let photo = luma().join("images/mh09-blue_main.jpg");
    let q = Query {
        photo: Some(PhotoInput::Path(photo.clone())),
        ..Query::default()
    };
    let r = s.search(&q, &Weights::default(), 5, 0).unwrap();
    assert_eq!(r.signals, vec![Signal::Visual, Signal::Phash]);
    let top = &r.hits[0];
    assert_eq!(top.sku, "MH09");
    assert!(
        top.matched_image
            .as_ref()
            .unwrap()
            .path
            .ends_with("mh09-blue_main.jpg")
    );
    assert!(top.matched_image.as_ref().unwrap().thumbnail.is_file());
    assert_eq!(
        top.signals
            .iter()
            .find(|s| s.signal == Signal::Phash)
            .unwrap()
            .raw,
        0.0
    );

    // A re-saved, half-size copy (bytes, as the app passes a dropped photo) still finds it.
    let img = image::open(&photo).unwrap();
    let half = img.resize(
        img.width() / 2,
        img.height() / 2,
        image::imageops::FilterType::Triangle,
    );
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 40)
        .encode_image(&half.to_rgb8())
        .unwrap();
    let q = Query {
        photo: Some(PhotoInput::Bytes(bytes)),
        ..Query::default()
    };
    assert_eq!(
        s.search(&q, &Weights::default(), 1, 0).unwrap().hits[0].sku,
        "MH09"
    );

    // Photo and text together use every signal.
    let q = Query {
        text: "hoodie".into(),
        photo: Some(PhotoInput::Path(photo)),
        ..Query::default()
    };
    let r = s.search(&q, &Weights::default(), 5, 0).unwrap();
    assert_eq!(r.signals.len(), 5);
    assert_eq!(r.hits[0].sku, "MH09");

    // A corrupt query photo is a clear error.
    let bad = Query {
        photo: Some(PhotoInput::Bytes(b"not a photo".to_vec())),
        ..Query::default()
    };
    let err = s.search(&bad, &Weights::default(), 5, 0).err().unwrap();
    assert!(err.to_string().contains("query photo"), "{err}");
}

#[test]
fn more_like_this_excludes_the_product_and_finds_its_kind() {
    let s = searcher();
    let q = Query {
        like: Some("24-MB02".into()),
        ..Query::default()
    };
    let r = s.search(&q, &text_weights(), 5, 0).unwrap();
    assert!(r.hits.iter().all(|h| h.sku != "24-MB02"));
    assert_eq!(r.hits[0].category, "Gear/Bags");
    let unknown = Query {
        like: Some("NOPE".into()),
        ..Query::default()
    };
    assert!(s.search(&unknown, &text_weights(), 5, 0).is_err());
}

#[test]
fn a_filter_in_a_large_catalog_finds_matches_that_rank_low_overall() {
    // Past the exact-scan size, candidates come from each signal's top matches; the few
    // products passing a filter must still be found even when thousands outrank them.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("products.csv");
    let mut rows = String::from("sku,title,category,price\n");
    for i in 0..vitrine::index::EXACT_BELOW {
        rows += &format!("A{i},Steel widget,Hardware,{}\n", 10 + i % 50);
    }
    for i in 0..5 {
        rows += &format!(
            "B{i},Widget holder in oak with brass hinges and a felt lining for drawers,Furniture,90\n"
        );
    }
    std::fs::write(&csv, rows).unwrap();
    let mut catalog = Catalog::open(dir.path().join("catalog")).unwrap();
    import(&mut catalog, &[csv]);
    let s = Searcher::open(&catalog, Encoders::none()).unwrap();
    let query = Query {
        filters: Filters {
            category: Some("furniture".into()),
            ..Filters::default()
        },
        ..text_query("widget")
    };
    let r = s.search(&query, &Weights::default(), 10, 0).unwrap();
    let mut got = skus(&r);
    got.sort();
    assert_eq!(got, ["B0", "B1", "B2", "B3", "B4"]);
}

#[test]
fn in_a_catalog_of_titles_function_words_do_not_match_and_other_forms_of_a_word_do() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("products.csv");
    let mut rows = String::from("sku,title,category\n");
    for (i, name) in ["Teton", "Stark", "Hero", "Oslo"].iter().enumerate() {
        rows += &format!("H{i},{name} Hoodie,Tops\nT{i},{name} Tee,Tops\n");
    }
    rows += "F0,Yoga For Life,Media\nS0,Hike Shorts,Bottoms\n";
    std::fs::write(&csv, rows).unwrap();
    let mut catalog = Catalog::open(dir.path().join("catalog")).unwrap();
    import(&mut catalog, &[csv]);
    let s = Searcher::open(&catalog, Encoders::none()).unwrap();
    // "for" is in one title of ten, rarer than "hoodie": as a word it would rank "Yoga For
    // Life" first. "hiking" is in no title; "hike" is.
    let r = s
        .search(&text_query("hoodie for hiking"), &Weights::default(), 5, 0)
        .unwrap();
    let mut got = skus(&r);
    got.sort();
    assert_eq!(got, ["H0", "H1", "H2", "H3", "S0"]);
    assert!(r.spelling.is_empty(), "{:?}", r.spelling);
}

#[test]
fn a_price_typed_in_a_catalog_without_prices_is_not_applied_and_says_so() {
    let mut rows = String::from("sku,title,category\n");
    for i in 0..4 {
        rows += &format!("W{i},Analog Watch {i} For Women,Watches\nB{i},Tote Bag {i},Bags\n");
    }
    let search = |rows: &str| {
        let (_dir, s) = searcher_of(rows);
        let q = text_query("watch for women under 500");
        s.search(&q, &Weights::default(), 10, 0).unwrap()
    };
    // Applied, it would leave nothing: every product lacks a price.
    let r = search(&rows);
    assert_eq!(r.text, "watch for women");
    assert_eq!(r.filters.max_price, None);
    assert_eq!(r.strong, 4, "{:?}", skus(&r));
    assert!(skus(&r)[..4].iter().all(|s| s.starts_with('W')));
    let price: Vec<_> = r.read.iter().filter(|p| p.kind == "price").collect();
    assert_eq!(price.len(), 1);
    assert_eq!(price[0].phrase, "under 500");
    assert!(!price[0].applied);
    // Once one product has a price, the limit applies: the products without one are left out.
    rows += "W9,Quartz Watch For Women,Watches,120\n";
    let header = "sku,title,category";
    let r = search(&rows.replace(header, &format!("{header},price")));
    assert_eq!(skus(&r), ["W9"]);
    assert!(r.read.iter().all(|p| p.applied));
}

#[test]
fn brand_material_and_tag_columns_are_searched_and_a_size_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("products.csv");
    std::fs::write(
        &csv,
        "sku,title,category,Brand,Material,Size,Tags\n\
         A1,Trail Jacket,Outerwear,Acme,Merino wool,XL,\n\
         A2,City Jacket,Outerwear,Borealis,Cotton,S,\"packable, waterproof\"\n\
         A3,Rain Jacket,Outerwear,Acme,Nylon,M,waterproof\n\
         A4,Field Jacket,Outerwear,Borealis,Wool,XL,\n",
    )
    .unwrap();
    let mut catalog = Catalog::open(dir.path().join("catalog")).unwrap();
    import(&mut catalog, &[csv]);
    let s = Searcher::open(&catalog, Encoders::none()).unwrap();
    let top = |q: &str, n: usize| {
        let r = s.search(&text_query(q), &Weights::default(), n, 0).unwrap();
        let mut got: Vec<String> = r
            .hits
            .iter()
            .filter(|h| h.score > 0.0)
            .map(|h| h.sku.clone())
            .collect();
        got.sort();
        got
    };
    assert_eq!(top("acme wool jacket", 1), ["A1"]);
    assert_eq!(top("waterproof", 4), ["A2", "A3"]);
    assert_eq!(top("borealis", 4), ["A2", "A4"]);
    // A size is an attribute to filter by, not a word the products have.
    assert!(top("xl", 4).is_empty());
}

/// An empty catalog in a temporary folder (kept while the first is alive), with the models.
fn empty_catalog() -> (tempfile::TempDir, Catalog, Encoders) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(dir.path().join("catalog")).unwrap();
    let enc = encoders(&catalog);
    (dir, catalog, enc)
}

#[test]
fn typed_text_past_the_exact_size_finds_what_an_exact_scan_finds() {
    // Past 20,000 vectors a typed query's text candidates come from an exact scan, not from the
    // graph, which misses some of the true ten for queries far from the products (short text
    // against long product texts). Product vectors: real sentence vectors of Luma's product
    // texts, blurred by noise into 20,400 distinct ones; the answer must be the exact top ten.
    let (_dir, catalog, enc) = empty_catalog();
    let (manifest, text) = enc
        .text
        .as_ref()
        .expect("the product-text model is present");
    let rows: Vec<String> = csv::Reader::from_path(luma().join("products.csv"))
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            format!("{}. {}. {}", &r[4], &r[6], &r[5])
        })
        .take(120)
        .collect();
    let bases = text
        .embed(&rows.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    let n = vitrine::index::EXACT_BELOW + 400;
    let mut noise = uniform(0x9e37_79b9_7f4a_7c15);
    let vectors: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let mut v: Vec<f32> = bases[i % bases.len()]
                .iter()
                .map(|b| b + 0.12 * noise())
                .collect();
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
            v.iter_mut().for_each(|a| *a /= norm);
            v
        })
        .collect();
    catalog
        .add_embedded_texts(
            vectors
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("T{i}"), v.as_slice())),
            &manifest.id,
        )
        .unwrap();
    vitrine::vectors::build_indexes(&catalog, &enc, true).unwrap();
    let s = common::searcher(&catalog);
    let weights = Weights {
        keyword: 0.0,
        crossmodal: 0.0,
        ..Weights::default()
    };
    let queries = [
        "blue backpack",
        "warm hoodie for winter",
        "yoga pants",
        "running shorts",
        "watch",
        "rain jacket with hood",
        "gym bag",
        "sports bra",
        "tee for training",
        "fitness ball",
        "red tank top",
        "something light for a summer run",
        "leggings",
        "messenger bag for work",
        "a sweatshirt with a zip",
        "compression shorts",
        "water bottle",
        "jacket for cold days",
        "women's top with a built-in bra",
        "video to learn yoga",
    ];
    for q in queries {
        let got = skus(&s.search(&text_query(q), &weights, 10, 0).unwrap());
        let qv = &text.embed(&[q]).unwrap()[0];
        let mut exact: Vec<(f32, usize)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (v.iter().zip(qv).map(|(a, b)| a * b).sum(), i))
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0));
        let want: Vec<String> = exact[..10].iter().map(|(_, i)| format!("T{i}")).collect();
        assert_eq!(got, want, "{q}");
    }
}

#[test]
fn description_passages_are_scanned_without_a_graph() {
    // 7,000 products with three passage vectors each: past the exact-scan size in passages
    // (so they are scanned through their 8-bit copy), not in products. One passage of one
    // product is the query's own sentence vector: a typed query must find that product first.
    // A passage graph left by an earlier version is removed, and none is built.
    let (_dir, catalog, enc) = empty_catalog();
    let (manifest, text) = enc
        .text
        .as_ref()
        .expect("the product-text model is present");
    let query = "a waterproof bag for cycling to work";
    let target = text.embed(&[query]).unwrap().remove(0);
    let dim = target.len();
    let mut noise = uniform(0x51ed_270b_2c3a_9f1d);
    let mut random = || {
        let mut v: Vec<f32> = (0..dim).map(|_| noise()).collect();
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.iter_mut().for_each(|a| *a /= norm);
        v
    };
    let n = 7_000;
    let planted = 4_321;
    let rows: Vec<(vitrine::ProductData, Vec<f32>, Vec<Vec<f32>>)> = (0..n)
        .map(|i| {
            let mut passages = vec![random(), random(), random()];
            if i == planted {
                passages[1] = target.clone();
            }
            let data = vitrine::ProductData {
                sku: format!("P{i}"),
                title: format!("P{i}"),
                ..vitrine::ProductData::default()
            };
            (data, random(), passages)
        })
        .collect();
    catalog
        .add_embedded_products(
            rows.iter()
                .map(|(d, v, p)| (d.clone(), v.as_slice(), p.as_slice())),
            &manifest.id,
        )
        .unwrap();
    let stale = catalog.index_path(&manifest.id, vitrine::OwnerKind::Passage);
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, b"a passage graph of an earlier version").unwrap();
    let built = vitrine::vectors::build_indexes(&catalog, &enc, false).unwrap();
    assert!(built.is_empty(), "{built:?}");
    assert!(!stale.exists(), "the passage graph is removed");
    let s = common::searcher(&catalog);
    let weights = Weights {
        keyword: 0.0,
        crossmodal: 0.0,
        ..Weights::default()
    };
    let got = skus(&s.search(&text_query(query), &weights, 5, 0).unwrap());
    assert_eq!(got[0], format!("P{planted}"), "{got:?}");
}

#[test]
fn a_damaged_title_bank_is_encoded_again_and_ranks_as_before() {
    // Text-to-photo scores are corrected for hubs with a bank of the catalog's titles encoded by
    // the CLIP model, kept beside the index with each photo's lean; a damaged copy is replaced,
    // with the same ranking.
    let dir = tempfile::tempdir().unwrap();
    copy_tree(catalog_dir(), dir.path());
    let catalog = Catalog::open(dir.path()).unwrap();
    let bank = catalog.bank_path("tiny");
    let crossmodal = Weights {
        visual: 0.0,
        crossmodal: 1.0,
        text: 0.0,
        keyword: 0.0,
        phash: 0.0,
    };
    let query = text_query("a bag for the gym with many pockets");
    let first = skus(
        &common::searcher(&catalog)
            .search(&query, &crossmodal, 10, 0)
            .unwrap(),
    );
    let saved = std::fs::read(&bank).unwrap();
    assert!(saved.starts_with(b"VTBANK01") && saved.len() > 30 * 32 * 4);
    // The photos' leans are kept too; damaged, they are measured again, with the same ranking.
    let leans = bank.with_extension("leans");
    let saved_leans = std::fs::read(&leans).unwrap();
    assert!(saved_leans.starts_with(b"VTLEAN01"));
    std::fs::write(&bank, b"not a bank").unwrap();
    std::fs::write(&leans, b"VTLEAN01 damaged").unwrap();
    let again = skus(
        &common::searcher(&catalog)
            .search(&query, &crossmodal, 10, 0)
            .unwrap(),
    );
    assert_eq!(again, first);
    assert_eq!(std::fs::read(&bank).unwrap(), saved);
    assert_eq!(std::fs::read(&leans).unwrap(), saved_leans);
    // `embed` encodes the bank too (here with nothing else to embed), so searches need not.
    std::fs::remove_file(&bank).unwrap();
    let mut catalog = catalog;
    let enc = encoders(&catalog);
    common::embed(&mut catalog, &enc);
    assert_eq!(std::fs::read(&bank).unwrap(), saved);
}

#[test]
fn one_title_word_of_a_long_review_is_not_taken_for_a_match() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("products.csv");
    let mut rows = String::from("sku,title,category\n");
    let kinds = [
        ("B", "Backpack", "Bags"),
        ("T", "Tee", "Tops"),
        ("S", "Running Shorts", "Bottoms"),
        ("H", "Hoodie", "Tops"),
    ];
    for (prefix, kind, category) in kinds {
        for (i, name) in ["Endeavor", "Driven", "Fusion", "Voyage"]
            .iter()
            .enumerate()
        {
            rows += &format!("{prefix}{i},{name} {kind},{category}\n");
        }
    }
    rows += "L0,Deion Long-Sleeve Tee,Tops\n";
    std::fs::write(&csv, rows).unwrap();
    let catalog = embedded(&dir.path().join("catalog"), &[csv]);
    let s = common::searcher(&catalog);
    // Of this review's words only "long" is in a title. As the one product of the catalog that
    // has it, the long-sleeve tee stood out as far as a full match would, and ranked first.
    let review = "used it a long time on weekend trips, there is always room for my laptop and \
                  gear and the straps are comfy on my back";
    let r = s
        .search(&text_query(review), &Weights::default(), 5, 0)
        .unwrap();
    let top = skus(&r);
    assert!(top[..3].iter().all(|s| s.starts_with('B')), "{top:?}");
    let tee = r.hits.iter().find(|h| h.sku == "L0");
    assert!(tee.is_none_or(|h| h.score < 0.4), "{tee:?}");
    // Asked for, it is a full match.
    let r = s
        .search(&text_query("long sleeve tee"), &Weights::default(), 1, 0)
        .unwrap();
    assert_eq!(skus(&r), ["L0"]);
    assert!(r.hits[0].score > 0.9, "{:?}", r.hits[0]);
}

/// A searcher over a catalog imported from these CSV rows (with their header) and embedded.
fn searcher_of(rows: &str) -> (tempfile::TempDir, Searcher) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("products.csv");
    std::fs::write(&csv, rows).unwrap();
    let catalog = embedded(&dir.path().join("catalog"), &[csv]);
    let s = common::searcher(&catalog);
    (dir, s)
}

#[test]
fn in_a_catalog_of_titles_the_kind_asked_for_comes_before_a_rare_modifier() {
    let mut rows = String::from("sku,title,category\n");
    for (i, name) in ["Teton", "Stark", "Hero", "Oslo"].iter().enumerate() {
        rows += &format!("H{i},{name} Hoodie,Men/Tops/Hoodies & Sweatshirts\n");
        rows += &format!("T{i},{name} Tee,Men/Tops/Tees\n");
        rows += &format!("P{i},{name} Pant,Men/Bottoms/Pants\n");
    }
    rows += "G0,Lando Gym Jacket,Men/Tops/Jackets\nG1,Zoltan Gym Tee,Men/Tops/Tees\n\
             G2,Kratos Gym Pant,Men/Bottoms/Pants\n";
    let (_dir, s) = searcher_of(&rows);
    // "gym" is in three titles of fifteen, rarer than "hoodie" (four, and their category):
    // as rare words alone the gym products had more of the query than any hoodie, and two of
    // them ranked first.
    let r = s
        .search(&text_query("hoodies for gym"), &Weights::default(), 15, 0)
        .unwrap();
    let order = skus(&r);
    assert!(order[..3].iter().all(|s| s.starts_with('H')), "{order:?}");
    let rank = |sku: &str| order.iter().position(|s| s == sku).unwrap();
    for hoodie in ["H0", "H1", "H2", "H3"] {
        assert!(
            rank(hoodie) < rank("G1") && rank(hoodie) < rank("G2"),
            "{order:?}"
        );
    }
}

#[test]
fn products_for_the_people_asked_for_come_before_a_word_that_only_describes() {
    let mut rows = String::from("sku,title,category,description\n");
    for (i, name) in ["Kratos", "Thorpe", "Caesar", "Viktor"].iter().enumerate() {
        rows += &format!(
            "M{i},{name} Gym Pant,Men/Bottoms/Pants,A warm pant for the gym and the track \
             and the trail with zip pockets and a drawstring waist and a soft lining.\n"
        );
        rows += &format!("W{i},{name} Yoga Pant,Women/Bottoms/Pants,Yoga pant for yoga.\n");
        rows += &format!("G{i},{name} Water Bottle,Gear/Fitness,A bottle.\n");
        rows += &format!("B{i},{name} Duffle Bag,Gear/Bags,A bag.\n");
    }
    rows += "Y0,Orestes Yoga Pant,Men/Bottoms/Pants,A pant for yoga.\n";
    let (_dir, s) = searcher_of(&rows);
    // A men's gym pant and a women's yoga pant each have two of the three words of "mens yoga
    // pants"; "yoga" fills the women's pants' short texts, and the text signal hears it more
    // than "mens". Whom a product is for, where the categories say it, decides before a word
    // that only describes it: the women's yoga pants came before the men's pants.
    let r = s
        .search(&text_query("mens yoga pants"), &Weights::default(), 9, 0)
        .unwrap();
    let order = skus(&r);
    assert_eq!(order[0], "Y0", "{order:?}");
    assert!(order[1..5].iter().all(|s| s.starts_with('M')), "{order:?}");
    assert!(order[5..9].iter().all(|s| s.starts_with('W')), "{order:?}");
}

#[test]
fn a_product_of_the_kind_asked_for_comes_before_one_that_only_shares_a_modifier() {
    let mut rows = String::from("sku,title,category\n");
    for (i, name) in ["Kratos", "Thorpe", "Caesar", "Viktor"].iter().enumerate() {
        rows += &format!("P{i},{name} Track Pant,Men/Bottoms/Pants\n");
        rows += &format!("T{i},{name} Tee,Men/Tops/Tees\n");
    }
    for (i, name) in ["Apollo", "Ana", "Erika"].iter().enumerate() {
        rows += &format!("R{i},{name} Running Short,Men/Bottoms/Shorts\n");
    }
    rows += "R3,Atomic Running Tee,Men/Tops/Tees\n";
    let (_dir, s) = searcher_of(&rows);
    // "pants" and "running" weigh alike, and "running" sits in the titles it is in (where
    // "pant" shares its title with "track"): a running short and a track pant each have half
    // of the query, and by BM25 alone the shorts came first. Of two products with as much of
    // the query, the one of the kind asked for comes first.
    let keywords = Weights {
        text: 0.0,
        crossmodal: 0.0,
        ..Weights::default()
    };
    let r = s
        .search(&text_query("pants for running"), &keywords, 12, 0)
        .unwrap();
    let order = skus(&r);
    assert!(order[..4].iter().all(|s| s.starts_with('P')), "{order:?}");
    let score = |sku: &str| r.hits.iter().find(|h| h.sku == sku).unwrap().score;
    assert!(score("P0") > score("R0") + 0.05, "{order:?}");
}

#[test]
fn a_product_of_another_kind_in_the_colour_asked_for_comes_after_the_kind_asked_for() {
    let mut rows = String::from("sku,title,category,color\n");
    for (i, (brand, colour)) in [
        ("Nike", "Blue"),
        ("Adidas", "Black"),
        ("Puma", "White"),
        ("Arrow", "Cream"),
        ("Reebok", "Red"),
    ]
    .iter()
    .enumerate()
    {
        rows += &format!("C{i},{brand} Unisex {colour} Cap,Unisex/Headwear/Caps,{colour}\n");
        rows += &format!("S{i},{brand} Men {colour} Sneakers,Men/Shoes/Sneakers,{colour}\n");
    }
    rows += "C9,Wildcraft Unisex Olive Green Cap,Unisex/Headwear/Caps,Olive\n\
             O0,French Connection Women Olive Top,Women/Topwear/Tops,Olive\n\
             O1,Murcia Women Casual Olive Handbag,Women/Bags/Handbags,Olive\n\
             O2,Roadster Men Olive Jacket,Men/Topwear/Jackets,Olive\n";
    let (_dir, s) = searcher_of(&rows);
    // The text model hears the rare colour more than the kind: the olive top, bag and jacket
    // read closer to "olive caps" than a cap in another colour does. What a product is
    // decides before how its text reads: the olive cap, then every other cap.
    let r = s
        .search(&text_query("olive caps"), &Weights::default(), 10, 0)
        .unwrap();
    let order = skus(&r);
    assert_eq!(order[0], "C9", "{order:?}");
    assert!(order[1..6].iter().all(|s| s.starts_with('C')), "{order:?}");
    // The explanation shows the text evidence as it counted; with keywords off, the text
    // signal alone ranks as it reads.
    let text_of = |r: &SearchResults, sku: &str| {
        let h = r.hits.iter().find(|h| h.sku == sku).unwrap();
        h.signals
            .iter()
            .find(|s| s.signal == Signal::Text)
            .unwrap()
            .score
    };
    let text_only = Weights {
        keyword: 0.0,
        ..Weights::default()
    };
    let alone = s
        .search(&text_query("olive caps"), &text_only, 15, 0)
        .unwrap();
    let top = text_of(&alone, "O0");
    assert!(
        top > 0.0 && (text_of(&r, "O0") - top * 0.5).abs() < 1e-6,
        "{top}"
    );
    assert!((text_of(&r, "C0") - text_of(&alone, "C0")).abs() < 1e-6);
}

#[test]
fn a_product_only_for_the_people_asked_for_is_not_of_the_kind_asked_for() {
    let mut rows = String::from("sku,title,category,color\n");
    let kinds = [
        ("Women", "Bottomwear", "Churidar"),
        ("Women", "Bottomwear", "Patiala"),
        ("Women", "Topwear", "Top"),
        ("Men", "Topwear", "Kurta"),
        ("Men", "Topwear", "Shirt"),
        ("Men", "Bottomwear", "Jeans"),
        ("Men", "Bottomwear", "Shorts"),
        ("Men", "Footwear", "Sandals"),
        ("Men", "Accessories", "Belt"),
    ];
    let colours = [
        "Blue", "White", "Black", "Green", "Red", "Yellow", "Pink", "Grey",
    ];
    for (k, (people, part, kind)) in kinds.iter().enumerate() {
        for (i, colour) in colours.iter().enumerate() {
            rows += &format!(
                "K{k}-{i},Brand{i} {people} {colour} {kind},{people}/{part}/{kind}s,{colour}\n"
            );
        }
    }
    rows += "RC,Fabindia Women Rust Mangalgiri Churidar,Women/Bottomwear/Churidars,Rust\n\
             RP,Shree Women Rust Patiala,Women/Bottomwear/Patialas,Rust\n\
             RT,W Women Printed Rust Top,Women/Topwear/Tops,Rust\n";
    let (_dir, s) = searcher_of(&rows);
    // "women" names whom products are for (the categories say it), "churidar" what they
    // are: a women's patiala in rust has the one but not the other, and its text, which hears
    // the rare colour, put it third, before the churidars in other colours.
    let r = s
        .search(
            &text_query("women rust churidar"),
            &Weights::default(),
            10,
            0,
        )
        .unwrap();
    let order = skus(&r);
    assert_eq!(order[0], "RC", "{order:?}");
    assert!(
        order[1..9].iter().all(|s| s.starts_with("K0-")),
        "{order:?}"
    );
}
