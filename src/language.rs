//! The language a query is written in, when it can be told: for a note that an English-only
//! model may not understand it. Short queries in a Latin script cannot be told apart reliably
//! (whatlang reads "red leather handbag" as Danish), so only a non-Latin script or a confident
//! detection counts; everything else is taken as readable.

use whatlang::{Lang, Script};

/// The query's language in English words ("Spanish", "Mandarin", or a script such as
/// "Cyrillic" when the language itself is unsure), when it is surely not English.
pub fn foreign_language(text: &str) -> Option<String> {
    let info = whatlang::detect(text)?;
    let sure = info.is_reliable() || info.confidence() >= 0.5;
    let language = (sure && info.lang() != Lang::Eng).then(|| info.lang().eng_name().to_string());
    match info.script() {
        Script::Latin => language,
        script => language.or_else(|| Some(script.name().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_scripts_and_confident_sentences_are_told_short_latin_queries_are_not() {
        assert_eq!(
            foreign_language("红色皮革手提包").as_deref(),
            Some("Mandarin")
        );
        assert!(foreign_language("сумка красная").is_some());
        assert_eq!(
            foreign_language("eine schwarze Jacke für den Winter mit Kapuze").as_deref(),
            Some("German")
        );
        assert_eq!(
            foreign_language("busco un bolso de cuero rojo para el trabajo").as_deref(),
            Some("Spanish")
        );
        for english in [
            "red leather handbag under 80",
            "a bag for the gym with many pockets and a strap",
            "Joust Duffle Bag",
            "hoodie",
            "tote bag",
            "",
            "80",
        ] {
            assert_eq!(foreign_language(english), None, "{english}");
        }
    }
}
