//! Prices as people write them in spreadsheets and queries.

/// Parses a price such as `34`, `$1,299.00`, `12,50 €` or `1.299,00`. `None` if it is not one.
pub fn parse_price(raw: &str) -> Option<f64> {
    let s: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '$' | '€' | '£' | '¥' | '\u{a0}'))
        .collect();
    let s = s
        .trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    let (dots, commas) = (s.matches('.').count(), s.matches(',').count());
    let normal = match (dots, commas) {
        (_, 0) if dots <= 1 => s.to_string(),
        (0, _) => {
            let last = s.rsplit(',').next().unwrap_or("");
            if commas == 1 && (1..=2).contains(&last.len()) {
                s.replace(',', ".")
            } else {
                s.replace(',', "")
            }
        }
        (_, 0) => s.replace('.', ""),
        _ => {
            let (di, ci) = (s.rfind('.')?, s.rfind(',')?);
            if di > ci {
                s.replace(',', "")
            } else {
                s.replace('.', "").replace(',', ".")
            }
        }
    };
    let v: f64 = normal.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices() {
        assert_eq!(parse_price("34"), Some(34.0));
        assert_eq!(parse_price("$1,299.00"), Some(1299.0));
        assert_eq!(parse_price("12,50 €"), Some(12.5));
        assert_eq!(parse_price("1.299,00"), Some(1299.0));
        assert_eq!(parse_price("USD 7.5"), Some(7.5));
        assert_eq!(parse_price("1,299"), Some(1299.0));
        assert_eq!(parse_price("abc"), None);
        assert_eq!(parse_price("-3"), None);
        assert_eq!(parse_price("1.2.3,4,5"), None);
    }
}
