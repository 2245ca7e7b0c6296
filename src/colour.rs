//! Names of shades and the basic colours they are shades of, so that a query's "navy" finds a
//! catalog's blue products, and "blue" its "Navy" ones.
//!
//! The families are the eleven basic colour terms of English (Berlin and Kay) and "beige",
//! which fashion catalogs use as one. A shade lists its families nearest first ("teal": blue,
//! then green). Words whose everyday sense in a product query is not a colour ("coffee table",
//! "snow boots", "rose gold", "mint condition", metals) are left out.

/// Each shade with the families it belongs to, nearest first.
const SHADES: &[(&str, &[&str])] = &[
    // black
    ("ebony", &["black"]),
    ("onyx", &["black"]),
    ("raven", &["black"]),
    ("sable", &["black"]),
    ("noir", &["black"]),
    ("charcoal", &["grey", "black"]),
    // white
    ("ivory", &["white", "beige"]),
    ("cream", &["white", "beige"]),
    ("alabaster", &["white"]),
    ("eggshell", &["white"]),
    ("ecru", &["beige", "white"]),
    // grey
    ("slate", &["grey"]),
    ("graphite", &["grey"]),
    ("pewter", &["grey"]),
    ("gunmetal", &["grey"]),
    ("heather", &["grey"]),
    ("taupe", &["brown", "grey", "beige"]),
    // red
    ("crimson", &["red"]),
    ("scarlet", &["red"]),
    ("ruby", &["red"]),
    ("cardinal", &["red"]),
    ("garnet", &["red"]),
    ("vermilion", &["red"]),
    ("carmine", &["red"]),
    ("claret", &["red"]),
    ("oxblood", &["red", "brown"]),
    ("maroon", &["red", "brown"]),
    ("burgundy", &["red", "purple"]),
    ("brick", &["red", "orange"]),
    // orange
    ("tangerine", &["orange"]),
    ("apricot", &["orange"]),
    ("pumpkin", &["orange"]),
    ("terracotta", &["orange", "brown"]),
    ("rust", &["orange", "red", "brown"]),
    ("coral", &["orange", "pink"]),
    ("amber", &["orange", "yellow"]),
    // yellow
    ("mustard", &["yellow"]),
    ("canary", &["yellow"]),
    ("saffron", &["yellow", "orange"]),
    ("ochre", &["yellow", "brown"]),
    // green
    ("olive", &["green"]),
    ("emerald", &["green"]),
    ("sage", &["green"]),
    ("jade", &["green"]),
    ("moss", &["green"]),
    ("pistachio", &["green"]),
    ("chartreuse", &["green", "yellow"]),
    ("khaki", &["beige", "green", "brown"]),
    ("teal", &["blue", "green"]),
    ("turquoise", &["blue", "green"]),
    ("aqua", &["blue", "green"]),
    // blue
    ("navy", &["blue"]),
    ("azure", &["blue"]),
    ("cobalt", &["blue"]),
    ("sapphire", &["blue"]),
    ("cerulean", &["blue"]),
    ("cyan", &["blue"]),
    ("ultramarine", &["blue"]),
    ("denim", &["blue"]),
    ("indigo", &["blue", "purple"]),
    ("periwinkle", &["blue", "purple"]),
    // purple
    ("violet", &["purple"]),
    ("lavender", &["purple"]),
    ("lilac", &["purple"]),
    ("plum", &["purple"]),
    ("aubergine", &["purple"]),
    ("eggplant", &["purple"]),
    ("amethyst", &["purple"]),
    ("mauve", &["purple", "pink"]),
    // pink
    ("fuchsia", &["pink", "purple"]),
    ("magenta", &["pink", "purple"]),
    ("blush", &["pink"]),
    ("raspberry", &["pink", "red"]),
    // brown
    ("chocolate", &["brown"]),
    ("mocha", &["brown"]),
    ("chestnut", &["brown"]),
    ("mahogany", &["brown", "red"]),
    ("cognac", &["brown"]),
    ("espresso", &["brown"]),
    ("umber", &["brown"]),
    ("sienna", &["brown", "orange"]),
    ("cinnamon", &["brown"]),
    ("caramel", &["brown"]),
    ("tan", &["brown", "beige"]),
    ("camel", &["brown", "beige"]),
    // beige
    ("nude", &["beige", "pink"]),
    ("oatmeal", &["beige"]),
    ("champagne", &["beige"]),
    ("fawn", &["beige", "brown"]),
];

/// The families `shade` (lower case, singular) is a shade of, nearest first; empty for a word
/// that is not a shade.
pub fn families(shade: &str) -> &'static [&'static str] {
    SHADES
        .iter()
        .find(|(s, _)| *s == shade)
        .map_or(&[], |(_, f)| f)
}

/// The shades whose nearest family is `family` ("blue": "navy", "azure", ...).
pub fn shades(family: &str) -> impl Iterator<Item = &'static str> + '_ {
    let family = spellings(family).first().copied().unwrap_or(family);
    SHADES
        .iter()
        .filter(move |(_, f)| f.first() == Some(&family))
        .map(|(s, _)| *s)
}

/// Ways of writing a family's name ("grey", "gray").
pub fn spellings(family: &str) -> &'static [&'static str] {
    match family {
        "grey" | "gray" => &["grey", "gray"],
        _ => SHADES
            .iter()
            .flat_map(|(_, f)| f.iter())
            .find(|f| **f == family)
            .map_or(&[], std::slice::from_ref),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shade_has_its_families_and_a_family_its_shades() {
        assert_eq!(families("navy"), ["blue"]);
        assert_eq!(families("teal"), ["blue", "green"]);
        assert!(families("blue").is_empty());
        assert!(families("table").is_empty());
        assert!(shades("blue").any(|s| s == "navy"));
        assert!(shades("gray").any(|s| s == "slate"));
        // Only where it is the nearest family: teal is a blue first.
        assert!(!shades("green").any(|s| s == "teal"));
        assert_eq!(spellings("gray"), ["grey", "gray"]);
        assert_eq!(spellings("red"), ["red"]);
        assert!(spellings("navy").is_empty());
    }

    #[test]
    fn every_family_is_a_basic_colour_and_no_shade_is_listed_twice() {
        let basic = [
            "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink",
            "brown", "beige",
        ];
        let mut seen = std::collections::HashSet::new();
        for (shade, fams) in SHADES {
            assert!(seen.insert(shade), "{shade} twice");
            assert!(
                !fams.is_empty() && fams.iter().all(|f| basic.contains(f)),
                "{shade}"
            );
            assert!(!basic.contains(shade), "{shade} is a family");
        }
    }
}
