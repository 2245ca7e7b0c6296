//! Reading a product CSV: encoding and delimiter detection, header auto-mapping, row checks,
//! and grouping the rows that share a SKU into one product.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::domain::{ImportErrorRecord, SkipKind, column_key};
use crate::store::ProductData;

/// A product field a CSV column can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Sku,
    Title,
    Description,
    Category,
    Color,
    Price,
    Images,
    View,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::Sku,
        Field::Title,
        Field::Description,
        Field::Category,
        Field::Color,
        Field::Price,
        Field::Images,
        Field::View,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Sku => "sku",
            Field::Title => "title",
            Field::Description => "description",
            Field::Category => "category",
            Field::Color => "color",
            Field::Price => "price",
            Field::Images => "images",
            Field::View => "view",
        }
    }

    /// Header names recognised for the field, normalised (lower case, letters and digits
    /// only), best first. For the SKU, a column that groups variants into one product
    /// (Magento's parent id, Shopify's handle, Google Merchant's item group) wins over a
    /// per-variant SKU, so the variants' rows become one product with several photos.
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Field::Sku => &[
                "productid",
                "parentsku",
                "parentid",
                "itemgroupid",
                "handle",
                "sku",
                "variantsku",
                "id",
                "itemid",
                "productcode",
            ],
            Field::Title => &["title", "name", "productname", "producttitle", "itemname"],
            Field::Description => &[
                "description",
                "desc",
                "bodyhtml",
                "body",
                "productdescription",
                "longdescription",
                "details",
            ],
            Field::Category => &[
                "category",
                "categorypath",
                "categories",
                "productcategory",
                "producttype",
                "type",
                "department",
            ],
            Field::Color => &[
                "color",
                "colour",
                "variantcolor",
                "variantcolour",
                "optioncolor",
            ],
            Field::Price => &["price", "variantprice", "unitprice", "saleprice", "amount"],
            Field::Images => &[
                "image",
                "images",
                "imagefile",
                "imagepath",
                "imagefiles",
                "imagepaths",
                "imagesrc",
                "photo",
                "photos",
                "picture",
                "filename",
                "file",
            ],
            Field::View => &["view", "imageview", "angle", "imagerole", "imagelabel"],
        }
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n = column_key(s);
        Field::ALL
            .into_iter()
            .find(|f| {
                f.name() == n
                    || (n == "colour" && *f == Field::Color)
                    || (n == "image" && *f == Field::Images)
            })
            .ok_or_else(|| {
                format!(
                    "unknown field {s:?}; fields are {}",
                    Field::ALL.map(|f| f.name()).join(", ")
                )
            })
    }
}

/// Which column holds which field; every other column is kept as an attribute.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    pub fields: HashMap<Field, usize>,
    pub attributes: Vec<(usize, String)>,
    /// Why each column named like an earlier one is not read.
    pub ignored: Vec<String>,
}

/// Maps headers to fields. `overrides` name the header for a field exactly (case-insensitive).
pub fn map_columns(headers: &[String], overrides: &[(Field, String)]) -> Result<ColumnMap, String> {
    // A repeated name (case aside) refers to its first column; the later ones are not read.
    let first_of = |j: usize| {
        let name = headers[j].trim().to_lowercase();
        (0..j).find(|&i| !name.is_empty() && headers[i].trim().to_lowercase() == name)
    };
    let repeats: Vec<(usize, usize)> = (0..headers.len())
        .filter_map(|j| first_of(j).map(|i| (j, i)))
        .collect();
    let is_repeat = |j: usize| repeats.iter().any(|&(r, _)| r == j);
    let mut fields = HashMap::new();
    for (field, header) in overrides {
        let wanted = header.trim();
        let idx = headers
            .iter()
            .position(|h| h.trim() == wanted)
            .or_else(|| {
                headers
                    .iter()
                    .position(|h| h.trim().eq_ignore_ascii_case(wanted))
            })
            .ok_or_else(|| {
                format!(
                    "--map {}={wanted:?}: no such column; the columns are {}",
                    field.name(),
                    headers
                        .iter()
                        .map(|h| format!("{h:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        fields.insert(*field, idx);
    }
    let normalised: Vec<String> = headers.iter().map(|h| column_key(h)).collect();
    for field in Field::ALL {
        if fields.contains_key(&field) {
            continue;
        }
        let taken: Vec<usize> = fields.values().copied().collect();
        if let Some(idx) = field.synonyms().iter().find_map(|syn| {
            normalised
                .iter()
                .enumerate()
                .find(|(i, n)| n.as_str() == *syn && !taken.contains(i) && !is_repeat(*i))
                .map(|(i, _)| i)
        }) {
            fields.insert(field, idx);
        }
    }
    if !fields.contains_key(&Field::Sku) && !fields.contains_key(&Field::Title) {
        return Err(format!(
            "no column for the SKU or the title (looked for headers such as sku, id, title, name); \
             the columns are {}; name them with --map sku=COLUMN or --map title=COLUMN",
            headers
                .iter()
                .map(|h| format!("{h:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let used: Vec<usize> = fields.values().copied().collect();
    let attributes = headers
        .iter()
        .enumerate()
        .filter(|(i, h)| !used.contains(i) && !h.trim().is_empty() && !is_repeat(*i))
        .map(|(i, h)| (i, h.trim().to_string()))
        .collect();
    let ignored = repeats
        .iter()
        .map(|&(j, i)| {
            let role = fields
                .iter()
                .find(|(_, c)| **c == i)
                .map_or("as an attribute".to_string(), |(f, _)| {
                    format!("for the {}", f.name())
                });
            format!(
                "column {} is named {:?} like column {}; column {} is read {role} and column {} is ignored",
                j + 1,
                headers[j].trim(),
                i + 1,
                i + 1,
                j + 1
            )
        })
        .collect();
    Ok(ColumnMap {
        fields,
        attributes,
        ignored,
    })
}

/// One photo reference of a product, as a CSV row gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvImage {
    pub reference: String,
    pub view: String,
    pub color: String,
    pub attributes: Map<String, Value>,
    pub line: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CsvProduct {
    pub data: ProductData,
    pub images: Vec<CsvImage>,
    pub line: i64,
}

#[derive(Debug, Default)]
pub struct CsvContents {
    pub products: Vec<CsvProduct>,
    /// SKUs the file names, including rows that were skipped (so a prune never drops them).
    pub mentioned_skus: Vec<String>,
    pub errors: Vec<ImportErrorRecord>,
    /// How many rows named each currency (ISO 4217 code).
    pub currencies: HashMap<String, usize>,
}

/// Decodes a CSV file's bytes: UTF-8 (with or without BOM), else Windows-1252 as Excel writes.
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

/// The delimiter that splits the header line into the most fields: `,`, `;`, tab or `|`.
fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    let mut best = (b',', 0usize);
    for d in [b',', b';', b'\t', b'|'] {
        let mut n = 0;
        let mut quoted = false;
        for c in first.bytes() {
            if c == b'"' {
                quoted = !quoted;
            } else if c == d && !quoted {
                n += 1;
            }
        }
        if n > best.1 {
            best = (d, n);
        }
    }
    best.0
}

/// `Women > Tops > Jackets` and `Women/Tops/Jackets` both become `Women/Tops/Jackets`.
pub fn normalise_category(raw: &str) -> String {
    raw.split(['/', '>'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// Product descriptions often carry HTML (Shopify's Body HTML); keep the text only.
pub fn strip_html(raw: &str) -> String {
    if !raw.contains('<') && !raw.contains('&') {
        return raw.trim().to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut in_tag = false;
    for c in raw.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    decode_entities(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Decodes the HTML entities that product exports leave in titles (`&trade;`, `&amp;`,
/// `&#8482;`). Tags are left alone: titles are shown as text, never as HTML.
pub fn decode_entities(raw: &str) -> String {
    if !raw.contains('&') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some(' '),
                "trade" => Some('™'),
                "reg" => Some('®'),
                "copy" => Some('©'),
                _ => name
                    .strip_prefix("#x")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for w in s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push('-');
        }
        out.extend(w.chars().flat_map(char::to_lowercase));
    }
    out
}

fn same_text(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

/// One data row of a product CSV, read.
struct Row {
    sku: String,
    title: String,
    price: Option<f64>,
    color: String,
    description: String,
    category: String,
    attributes: Map<String, Value>,
    images: Vec<CsvImage>,
    line: i64,
    /// The currency its price names (a symbol or code), or its `currency` column.
    currency: Option<String>,
}

/// Reads and groups a product CSV. A file-level problem (unreadable, no header, no usable
/// columns) is an `Err`; row-level problems are listed in `errors` and the rows skipped.
pub fn read_products(
    path: &Path,
    overrides: &[(Field, String)],
) -> Result<CsvContents, ImportErrorRecord> {
    let item = path.to_string_lossy().to_string();
    let file_error = |kind: SkipKind, message: String| ImportErrorRecord {
        item: item.clone(),
        line: None,
        kind,
        message,
    };
    let bytes = crate::files::read_regular(path, crate::files::MAX_CSV_BYTES).map_err(|e| {
        file_error(
            SkipKind::UnreadableFile,
            format!("cannot read the CSV: {e}"),
        )
    })?;
    let text = decode_text(&bytes);
    if text.trim().is_empty() {
        return Err(file_error(
            SkipKind::EmptyCsv,
            "the CSV file is empty".into(),
        ));
    }
    let delimiter = sniff_delimiter(&text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| {
            file_error(
                SkipKind::MalformedCsv,
                format!("cannot read the header row: {e}"),
            )
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let map =
        map_columns(&headers, overrides).map_err(|m| file_error(SkipKind::UnmappedColumns, m))?;
    let image_separators: &[char] = if delimiter == b';' {
        &['|']
    } else {
        &['|', ';']
    };

    let mut out = CsvContents::default();
    for why in &map.ignored {
        out.errors.push(ImportErrorRecord {
            item: item.clone(),
            line: Some(1),
            kind: SkipKind::DuplicateColumn,
            message: why.clone(),
        });
    }
    let mut index: HashMap<String, usize> = HashMap::new();
    let lines = Lines::of(&text);
    // Records are read from `offset`; after a quote left open, reading starts again on the line
    // after the one where it opened, instead of swallowing the rows that follow.
    let mut offset = reader.position().byte() as usize;
    'reading: loop {
        let mut records = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(false)
            .from_reader(&text.as_bytes()[offset..]);
        let mut record = csv::StringRecord::new();
        loop {
            let row = match records.read_record(&mut record) {
                Ok(false) => break 'reading,
                Ok(true) => {
                    let start = offset as u64 + record.position().map_or(0, |p| p.byte());
                    // The record's last byte that is not its line end.
                    let mut end = offset + records.position().byte() as usize;
                    while end > start as usize && matches!(text.as_bytes()[end - 1], b'\n' | b'\r')
                    {
                        end -= 1;
                    }
                    let line = lines.at_byte(start);
                    let last = lines.at_byte(end.saturating_sub(1) as u64);
                    if last > line && record.len() != headers.len() {
                        out.errors.push(ImportErrorRecord {
                            item: item.clone(),
                            line: Some(line),
                            kind: SkipKind::MalformedRow,
                            message: format!(
                                "a quote opened on line {line} is not closed (it runs to line {last}); the row was skipped and reading went on at line {}",
                                line + 1
                            ),
                        });
                        match lines.start_of(line + 1) {
                            Some(next) if next > offset => {
                                offset = next;
                                continue 'reading;
                            }
                            _ => break 'reading,
                        }
                    }
                    read_row(
                        &record,
                        line,
                        &map,
                        headers.len(),
                        image_separators,
                        &mut out.mentioned_skus,
                    )
                }
                Err(e) => Err((
                    Some(lines.at_byte(offset as u64 + e.position().map_or(0, |p| p.byte()))),
                    SkipKind::MalformedRow,
                    format!("malformed CSV row: {e}"),
                )),
            };
            let merged = row.and_then(|row| {
                let line = row.line;
                if let Some(c) = &row.currency {
                    *out.currencies.entry(c.clone()).or_default() += 1;
                }
                merge_row(&mut out.products, &mut index, row)
                    .map_err(|(kind, message)| (Some(line), kind, message))
            });
            if let Err((line, kind, message)) = merged {
                out.errors.push(ImportErrorRecord {
                    item: item.clone(),
                    line,
                    kind,
                    message,
                });
            }
        }
    }
    for p in &mut out.products {
        if p.data.title.is_empty() {
            p.data.title = p.data.sku.clone();
        }
        // A photo row keeps only the attributes on which the product's rows differ.
        let attrs = &p.data.attributes;
        for img in &mut p.images {
            img.attributes
                .retain(|k, _| matches!(attrs.get(k), Some(Value::Array(_))));
        }
    }
    Ok(out)
}

/// A row skipped: its line, why, and a message.
type RowError = (Option<i64>, SkipKind, String);

/// Line numbers (1-based, the header is line 1) from byte offsets, counting `\n` whatever the
/// line ends. With CRLF the csv crate counts one line short and starts a record at the `\n`
/// ending the line before, which is why a newline at the offset itself counts.
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        Lines(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// The line of the byte at `byte`.
    fn at_byte(&self, byte: u64) -> i64 {
        self.0.partition_point(|&nl| (nl as u64) <= byte) as i64 + 1
    }

    /// Where line `line` (1-based) starts, if the text has it.
    fn start_of(&self, line: i64) -> Option<usize> {
        let i = usize::try_from(line - 2).ok()?;
        self.0.get(i).map(|nl| nl + 1)
    }
}

/// Reads one record (starting on `line`) into a row; notes its SKU in `mentioned` once it has
/// one.
fn read_row(
    record: &csv::StringRecord,
    line: i64,
    map: &ColumnMap,
    header_len: usize,
    image_separators: &[char],
    mentioned: &mut Vec<String>,
) -> Result<Row, RowError> {
    let skip = |kind: SkipKind, message: String| (Some(line), kind, message);
    if record.iter().all(|f| f.trim().is_empty()) {
        return Err(skip(SkipKind::EmptyRow, "empty row".into()));
    }
    if record.len() != header_len {
        return Err(skip(
            SkipKind::MalformedRow,
            format!(
                "the row has {} fields where the header has {}",
                record.len(),
                header_len
            ),
        ));
    }
    let get = |f: Field| map.fields.get(&f).map(|&i| record[i].trim()).unwrap_or("");
    let title = decode_entities(get(Field::Title));
    let sku = match map.fields.get(&Field::Sku) {
        Some(_) => get(Field::Sku).to_string(),
        None => slug(&title),
    };
    if sku.is_empty() {
        return Err(skip(SkipKind::MissingSku, "the row has no SKU".into()));
    }
    mentioned.push(sku.clone());
    let price = match get(Field::Price) {
        "" => None,
        raw => match crate::price::parse_price(raw) {
            Some(p) => Some(p),
            None => {
                return Err(skip(
                    SkipKind::BadPrice,
                    format!("SKU {sku}: {raw:?} is not a price"),
                ));
            }
        },
    };
    let color = get(Field::Color).to_string();
    let attributes: Map<String, Value> = map
        .attributes
        .iter()
        .filter(|(i, _)| !record[*i].trim().is_empty())
        .map(|(i, h)| (h.clone(), Value::String(record[*i].trim().to_string())))
        .collect();
    let images: Vec<CsvImage> = get(Field::Images)
        .split(image_separators)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|r| CsvImage {
            reference: r.to_string(),
            view: get(Field::View).to_string(),
            color: color.clone(),
            attributes: attributes.clone(),
            line,
        })
        .collect();
    let currency = crate::price::currency_of(get(Field::Price)).or_else(|| {
        map.attributes
            .iter()
            .find(|(_, h)| matches!(column_key(h).as_str(), "currency" | "currencycode"))
            .and_then(|(i, _)| crate::price::valid_currency(&record[*i]))
    });
    Ok(Row {
        currency,
        sku,
        title,
        price,
        color,
        description: get(Field::Description).to_string(),
        category: get(Field::Category).to_string(),
        attributes,
        images,
        line,
    })
}

/// Adds a row to its product (the rows of one SKU are one product: its variants), or starts
/// the product. A row whose SKU another title already uses is refused.
fn merge_row(
    products: &mut Vec<CsvProduct>,
    index: &mut HashMap<String, usize>,
    row: Row,
) -> Result<(), (SkipKind, String)> {
    let i = match index.get(&row.sku) {
        Some(&i) => {
            let p = &mut products[i];
            if !row.title.is_empty()
                && !p.data.title.is_empty()
                && !same_text(&row.title, &p.data.title)
            {
                return Err((
                    SkipKind::DuplicateSku,
                    format!(
                        "SKU {} is already used by {:?} (line {}); this row's title is {:?}",
                        row.sku, p.data.title, p.line, row.title
                    ),
                ));
            }
            let d = &mut p.data;
            if d.title.is_empty() {
                d.title = row.title;
            }
            if d.description.is_empty() {
                d.description = strip_html(&row.description);
            }
            if d.category.is_empty() {
                d.category = normalise_category(&row.category);
            }
            d.price = match (d.price, row.price) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            add_color(&mut d.color, &row.color);
            p.images.extend(row.images);
            i
        }
        None => {
            let mut data = ProductData {
                sku: row.sku.clone(),
                title: row.title,
                description: strip_html(&row.description),
                category: normalise_category(&row.category),
                color: String::new(),
                price: row.price,
                attributes: Map::new(),
            };
            add_color(&mut data.color, &row.color);
            index.insert(row.sku, products.len());
            products.push(CsvProduct {
                data,
                images: row.images,
                line: row.line,
            });
            products.len() - 1
        }
    };
    merge_attributes(&mut products[i].data.attributes, row.attributes);
    Ok(())
}

/// Attributes are gathered per row; the product keeps one value, or all distinct values.
fn merge_attributes(into: &mut Map<String, Value>, row: Map<String, Value>) {
    for (k, v) in row {
        match into.get_mut(&k) {
            None => {
                into.insert(k, v);
            }
            Some(Value::Array(vs)) => {
                if !vs.contains(&v) {
                    vs.push(v);
                }
            }
            Some(existing) => {
                if *existing != v {
                    *existing = Value::Array(vec![existing.clone(), v]);
                }
            }
        }
    }
}

fn add_color(colors: &mut String, c: &str) {
    if c.is_empty() || colors.split(", ").any(|x| x.eq_ignore_ascii_case(c)) {
        return;
    }
    if !colors.is_empty() {
        colors.push_str(", ");
    }
    colors.push_str(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_column_wins_over_variant_sku() {
        let h: Vec<String> = ["product_id", "sku", "Name", "Colour", "image_file"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = map_columns(&h, &[]).unwrap();
        assert_eq!(m.fields[&Field::Sku], 0);
        assert_eq!(m.fields[&Field::Title], 2);
        assert_eq!(m.fields[&Field::Color], 3);
        assert_eq!(m.fields[&Field::Images], 4);
        assert_eq!(m.attributes, vec![(1, "sku".to_string())]);
    }

    #[test]
    fn override_maps_a_named_column() {
        let h: Vec<String> = ["Product Name", "Ref"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = map_columns(
            &h,
            &[
                (Field::Title, "product name".into()),
                (Field::Sku, "Ref".into()),
            ],
        )
        .unwrap();
        assert_eq!(m.fields[&Field::Title], 0);
        assert_eq!(m.fields[&Field::Sku], 1);
        assert!(map_columns(&h, &[(Field::Title, "nope".into())]).is_err());
    }

    #[test]
    fn categories_and_html() {
        assert_eq!(
            normalise_category(" Women > Tops >Jackets "),
            "Women/Tops/Jackets"
        );
        assert_eq!(
            strip_html("<p>Soft &amp; warm</p><br>cotton"),
            "Soft & warm cotton"
        );
    }

    #[test]
    fn windows_1252_is_decoded() {
        assert_eq!(decode_text(b"caf\xe9"), "café");
        assert_eq!(decode_text(b"\xEF\xBB\xBFsku"), "sku");
    }

    #[test]
    fn semicolon_delimited_files_are_sniffed() {
        assert_eq!(sniff_delimiter("sku;title;price\n1;a;2"), b';');
        assert_eq!(sniff_delimiter("sku,title\n"), b',');
    }

    #[test]
    fn line_numbers_are_the_same_with_crlf_and_lf() {
        let dir = tempfile::tempdir().unwrap();
        for (name, end) in [("lf.csv", "\n"), ("crlf.csv", "\r\n")] {
            let path = dir.path().join(name);
            let rows = [
                "sku,title,price",
                "A,Red bag,10",
                "B,Blue bag,abc",
                "C,Green,x",
            ];
            std::fs::write(&path, rows.join(end) + end).unwrap();
            let got = read_products(&path, &[]).unwrap();
            let lines: Vec<Option<i64>> = got.errors.iter().map(|e| e.line).collect();
            assert_eq!(lines, [Some(3), Some(4)], "{name}");
            assert_eq!(got.products[0].line, 2, "{name}");
        }
    }

    fn read_rows(rows: &[&str], end: &str) -> CsvContents {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        std::fs::write(&path, rows.join(end) + end).unwrap();
        read_products(&path, &[]).unwrap()
    }

    #[test]
    fn an_unclosed_quote_is_reported_where_it_opened_and_the_next_rows_are_read() {
        for end in ["\n", "\r\n"] {
            let got = read_rows(
                &[
                    "sku,title,price,description",
                    "A,Red bag,10,fine",
                    "B,\"Blue bag,12,oops",
                    "C,Green cap,5,ok",
                    "D,Grey mug,4,\"multi",
                    "line, quoted\"",
                    "E,Tan belt,9,end",
                ],
                end,
            );
            let skus: Vec<&str> = got.products.iter().map(|p| p.data.sku.as_str()).collect();
            assert_eq!(skus, ["A", "C", "D", "E"], "{end:?}: {:?}", got.errors);
            assert_eq!(got.errors.len(), 1, "{:?}", got.errors);
            let e = &got.errors[0];
            assert_eq!(e.line, Some(3));
            assert!(
                e.message.contains("quote opened on line 3"),
                "{}",
                e.message
            );
            let lines: Vec<i64> = got.products.iter().map(|p| p.line).collect();
            assert_eq!(lines, [2, 4, 5, 7], "{end:?}");
            assert_eq!(
                got.products[2].data.description.replace("\r\n", "\n"),
                "multi\nline, quoted"
            );
        }
    }

    #[test]
    fn a_repeated_column_name_says_which_column_is_used() {
        let got = read_rows(
            &[
                "sku,Title,price,size,title,size",
                "A,Red bag,10,M,Blue bag,L",
            ],
            "\n",
        );
        assert_eq!(got.products[0].data.title, "Red bag");
        assert_eq!(got.products[0].data.attributes["size"], "M");
        let msgs: Vec<&str> = got.errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(got.errors.len(), 2, "{msgs:?}");
        assert!(
            got.errors
                .iter()
                .all(|e| e.kind == SkipKind::DuplicateColumn && e.line == Some(1))
        );
        assert!(
            msgs[0].contains("column 2 is read for the title and column 5 is ignored"),
            "{msgs:?}"
        );
        assert!(
            msgs[1].contains("column 4 is read as an attribute and column 6 is ignored"),
            "{msgs:?}"
        );
    }
}
