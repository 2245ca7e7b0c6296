//! Cells that are safe to open in a spreadsheet. A cell beginning with `=`, `+`, `-`, `@`, a
//! tab or a carriage return is read as a formula by Excel, LibreOffice and Google Sheets
//! (`=HYPERLINK(…)`, `=cmd|…`), so CSV files Vitrine writes prefix such cells with `'`
//! (OWASP's rule for CSV injection), except plain numbers such as `-3.5`, which stay numbers.

use std::borrow::Cow;

/// `cell` as it should be written to a CSV meant for spreadsheets.
pub fn safe_cell(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A number as spreadsheets read one: sign, digits, a decimal point, an exponent.
fn is_plain_number(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'))
        && s.chars().any(|c| c.is_ascii_digit())
        && s.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        for f in [
            "=HYPERLINK(\"http://x\")",
            "=cmd|' /C calc'!A0",
            "+SUM(1,2)",
            "@SUM(1)",
            "-2+3",
            "\t=1",
            "\r=1",
            "-",
        ] {
            assert_eq!(safe_cell(f), format!("'{f}"), "{f:?}");
        }
        for keep in ["-3.5", "+7", "-1e3", "plain text", "", "a=b", "12"] {
            assert_eq!(safe_cell(keep), keep, "{keep:?}");
        }
    }
}
