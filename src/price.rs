//! Prices as people write them in spreadsheets and queries.

/// The highest price Vitrine accepts (in any currency): above it a number is a typo.
pub const MAX_PRICE: f64 = 1e12;

/// The currency symbols a written price may carry.
pub const CURRENCY_SYMBOLS: [char; 4] = ['$', '€', '£', '¥'];

/// The currency a written price names, as an ISO 4217 code: a symbol (`€12`, `£3`, `¥500`,
/// `$5`, read as US dollars) or a three-letter code before or after the number (`12.50 EUR`,
/// `CHF 9`).
pub fn currency_of(raw: &str) -> Option<String> {
    let raw = raw.trim();
    for (symbol, code) in [('€', "EUR"), ('£', "GBP"), ('¥', "JPY"), ('$', "USD")] {
        if raw.contains(symbol) {
            return Some(code.into());
        }
    }
    let lead: String = raw
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let tail: String = {
        let mut t: Vec<char> = raw
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        t.reverse();
        t.into_iter().collect()
    };
    valid_currency(&lead).or_else(|| valid_currency(&tail))
}

/// A currency code the app can format: three ASCII letters, upper case.
pub fn valid_currency(code: &str) -> Option<String> {
    let c = code.trim();
    (c.len() == 3 && c.chars().all(|x| x.is_ascii_alphabetic())).then(|| c.to_ascii_uppercase())
}

/// Parses a price such as `34`, `$1,299.00`, `12,50 €` or `1.299,00`. `None` if it is not one:
/// no digits, separators in the wrong places (`1.2.3`), negative, or over [`MAX_PRICE`].
pub fn parse_price(raw: &str) -> Option<f64> {
    let s: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}' && !CURRENCY_SYMBOLS.contains(c))
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
    // Which separator marks the decimals, if any; the other one can only group thousands.
    let decimal = match (dots, commas) {
        (0, 0) => None,
        (1, 0) => Some('.'),
        (0, 1) if (1..=2).contains(&s.rsplit(',').next().unwrap_or("").len()) => Some(','),
        (_, 0) | (0, _) => None,
        _ => s.rfind(['.', ',']).and_then(|i| s[i..].chars().next()),
    };
    let (int_part, frac) = match decimal {
        Some(d) => s.rsplit_once(d)?,
        None => (s, ""),
    };
    let group = match decimal {
        Some('.') => ',',
        Some(_) => '.',
        None if dots > 0 => '.',
        None => ',',
    };
    // `.99` is written too: an empty integer part is 0.
    let digits = match int_part {
        "" if decimal.is_some() => "0".to_string(),
        _ => ungroup(int_part, group)?,
    };
    if !frac.chars().all(|c| c.is_ascii_digit()) || (decimal.is_some() && frac.is_empty()) {
        return None;
    }
    let v: f64 = format!("{digits}.{frac}0").parse().ok()?;
    (v.is_finite() && (0.0..=MAX_PRICE).contains(&v)).then_some(v)
}

/// The digits of an integer part written with `sep` between groups of three (`1,299,000`),
/// or without groups; `None` when the groups are wrong (`1,2,3`).
fn ungroup(int_part: &str, sep: char) -> Option<String> {
    let groups: Vec<&str> = int_part.split(sep).collect();
    let digits_only = |g: &str| !g.is_empty() && g.chars().all(|c| c.is_ascii_digit());
    let well_grouped =
        groups.len() == 1 || (groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3));
    (groups.iter().all(|g| digits_only(g)) && well_grouped).then(|| groups.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_read_from_symbols_and_codes() {
        for (raw, code) in [
            ("$1,299.00", Some("USD")),
            ("12,50 €", Some("EUR")),
            ("£3", Some("GBP")),
            ("12.50 EUR", Some("EUR")),
            ("chf 9", Some("CHF")),
            ("34", None),
            ("12 dollars", None),
        ] {
            assert_eq!(currency_of(raw).as_deref(), code, "{raw}");
        }
        assert_eq!(valid_currency(" eur ").as_deref(), Some("EUR"));
        assert_eq!(valid_currency("euro"), None);
    }

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
        assert_eq!(parse_price("7."), None);
    }

    #[test]
    fn malformed_and_absurd_numbers_are_refused() {
        assert_eq!(parse_price("1.2.3"), None);
        assert_eq!(parse_price("1,2,3"), None);
        assert_eq!(parse_price("12,34,567"), None);
        assert_eq!(parse_price("1.299.000"), Some(1_299_000.0));
        assert_eq!(parse_price("1,299,000.50"), Some(1_299_000.5));
        assert_eq!(parse_price("1.299.000,50"), Some(1_299_000.5));
        assert_eq!(parse_price("0,5"), Some(0.5));
        assert_eq!(parse_price("$.99"), Some(0.99));
        assert_eq!(parse_price("."), None);
        assert_eq!(parse_price("99999999999999999999999"), None);
        assert_eq!(parse_price("1e308"), None);
        assert_eq!(parse_price("1000000000000"), Some(MAX_PRICE));
    }
}
