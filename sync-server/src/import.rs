//! CSV import of attendees and tickets: reading and checking a file, with no database and no
//! clock, so every rule is tested here on plain bytes.
//!
//! The format (docs/operations.md has the admin's version): UTF-8 (a byte-order mark is
//! allowed), comma-separated, quoted as RFC 4180, the first line a header naming the columns in
//! any order. `first_name`, `last_name`, `email` and `ticket_type` are required columns; `code`,
//! `external_ref` and `phone` are optional; every other column is kept as an answer keyed by its
//! header. One row is one attendee with one ticket.
//!
//! [`parse`] reports every problem of the file with its line number (up to [`MAX_ERRORS`]) and
//! returns rows only when there is none, so a file is imported whole or not at all. Matching rows
//! to earlier imports happens in the store, inside the import transaction.
//!
//! Values starting with `=`, `+`, `-` or `@` are kept as text: they are data here, and whoever
//! exports them to a spreadsheet must escape them (formula injection).

use std::collections::HashMap;

use serde::Serialize;
use sync_protocol::ids::TicketTypeId;
use sync_protocol::model::{Answers, TicketType};
use sync_protocol::ticket_code::{SIGNED_PREFIX, TicketCode};

/// Most rows one file may hold.
pub const MAX_ROWS: usize = 200_000;
/// Most columns.
pub const MAX_COLUMNS: usize = 100;
/// Problems reported before the check stops.
pub const MAX_ERRORS: usize = 10_000;
/// Longest answer, in characters.
pub const MAX_ANSWER_CHARS: usize = 1_000;
/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest email address.
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest phone number.
pub const MAX_PHONE_CHARS: usize = 40;
/// Longest external reference.
pub const MAX_REF_CHARS: usize = 200;
/// Longest column name.
pub const MAX_HEADER_CHARS: usize = 64;

/// The columns with a meaning of their own.
pub const KNOWN_COLUMNS: [&str; 7] = [
    "first_name",
    "last_name",
    "email",
    "ticket_type",
    "code",
    "external_ref",
    "phone",
];
const REQUIRED_COLUMNS: [&str; 4] = ["first_name", "last_name", "email", "ticket_type"];

/// One problem, on one line of the file (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

impl LineError {
    fn new(line: u64, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// One checked row: an attendee and their ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    pub line: u64,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub ticket_type_id: TicketTypeId,
    /// An opaque code from the file; `None`: the server issues a signed one.
    pub code: Option<String>,
    pub external_ref: Option<String>,
    pub answers: Answers,
}

impl ImportRow {
    /// The key a re-import without `external_ref` matches on: lower-cased email and type.
    pub fn email_key(&self) -> Option<(String, TicketTypeId)> {
        self.email
            .as_ref()
            .map(|e| (e.to_lowercase(), self.ticket_type_id))
    }
}

/// What each column of the file is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    Known(&'static str),
    Answer(String),
}

/// Reads and checks a whole file. `progress` is called with the byte offset reached, now and
/// then. Returns every row, or every problem found (never both).
pub fn parse(
    bytes: &[u8],
    ticket_types: &[TicketType],
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<ImportRow>, Vec<LineError>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            return Err(vec![LineError::new(
                1,
                format!(
                    "the file is empty; the first line must be a header such as {}",
                    REQUIRED_COLUMNS.join(",")
                ),
            )]);
        }
        Err(err) => return Err(vec![csv_error(&err, 1)]),
    }
    let columns = parse_header(&record)?;
    let types = TypeIndex::new(ticket_types);

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut by_ref: HashMap<String, u64> = HashMap::new();
    let mut by_email: HashMap<(String, TicketTypeId), u64> = HashMap::new();
    let mut by_code: HashMap<String, u64> = HashMap::new();
    let mut count = 0usize;
    let (mut counted_to, mut counted_line) = (0usize, 1u64);
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let line = err.position().map_or(0, |p| p.line());
                errors.push(csv_error(&err, line));
                break;
            }
        }
        let position = record
            .position()
            .cloned()
            .unwrap_or_else(csv::Position::new);
        // The reader's own line count skips blank lines; count from the byte offset instead.
        let mut start = usize::try_from(position.byte())
            .unwrap_or(bytes.len())
            .min(bytes.len());
        // A record's position includes the blank lines before it.
        while start < bytes.len() && matches!(bytes[start], b'\n' | b'\r') {
            start += 1;
        }
        if start >= counted_to {
            counted_line += bytes[counted_to..start]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            counted_to = start;
        }
        let line = counted_line;
        count += 1;
        if count.is_multiple_of(4096) {
            progress(position.byte());
        }
        if count > MAX_ROWS {
            errors.push(LineError::new(
                line,
                format!("more than {MAX_ROWS} rows; split the file"),
            ));
            break;
        }
        if record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace) {
            // A blank line: nothing to import.
            continue;
        }
        match parse_row(&record, line, &columns, &types) {
            Ok(row) => {
                let mut duplicate = |map_line: Option<u64>, what: &str| {
                    if let Some(first) = map_line {
                        errors.push(LineError::new(
                            line,
                            format!("same {what} as line {first}; each attendee once per file"),
                        ));
                    }
                };
                if let Some(reference) = &row.external_ref {
                    duplicate(by_ref.insert(reference.clone(), line), "external_ref");
                } else if let Some(key) = row.email_key() {
                    duplicate(by_email.insert(key, line), "email and ticket_type");
                }
                if let Some(code) = &row.code
                    && let Some(first) = by_code.insert(code.clone(), line)
                {
                    errors.push(LineError::new(
                        line,
                        format!("same code as line {first}; codes must be unique"),
                    ));
                }
                if errors.is_empty() {
                    rows.push(row);
                }
            }
            Err(mut row_errors) => errors.append(&mut row_errors),
        }
        if errors.len() >= MAX_ERRORS {
            errors.truncate(MAX_ERRORS);
            errors.push(LineError::new(
                line,
                format!("stopped after {MAX_ERRORS} problems; fix these and check again"),
            ));
            break;
        }
    }
    progress(bytes.len() as u64);
    if errors.is_empty() && rows.is_empty() {
        errors.push(LineError::new(2, "no rows below the header"));
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

fn csv_error(err: &csv::Error, line: u64) -> LineError {
    let message = match err.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8; save the file as UTF-8".to_owned(),
        _ => format!("unreadable CSV: {err}"),
    };
    LineError::new(line.max(1), message)
}

fn parse_header(record: &csv::ByteRecord) -> Result<Vec<Column>, Vec<LineError>> {
    let mut errors = Vec::new();
    if record.len() > MAX_COLUMNS {
        return Err(vec![LineError::new(
            1,
            format!(
                "{} columns; at most {MAX_COLUMNS} are allowed",
                record.len()
            ),
        )]);
    }
    let mut columns = Vec::with_capacity(record.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, raw) in record.iter().enumerate() {
        let number = i + 1;
        let Ok(name) = std::str::from_utf8(raw) else {
            errors.push(LineError::new(
                1,
                format!("column {number}: the header is not valid UTF-8; save the file as UTF-8"),
            ));
            continue;
        };
        let name = name.trim();
        if name.is_empty() {
            errors.push(LineError::new(1, format!("column {number} has no name")));
            continue;
        }
        if name.chars().count() > MAX_HEADER_CHARS || name.chars().any(char::is_control) {
            errors.push(LineError::new(
                1,
                format!(
                    "column {number}: a column name is 1 to {MAX_HEADER_CHARS} characters without control characters"
                ),
            ));
            continue;
        }
        let folded = name.to_lowercase();
        if let Some(first) = seen.insert(folded.clone(), number) {
            errors.push(LineError::new(
                1,
                format!(
                    "column {number} ({name:?}) repeats column {first}; column names must be unique"
                ),
            ));
            continue;
        }
        columns.push(match KNOWN_COLUMNS.iter().find(|k| **k == folded) {
            Some(known) => Column::Known(known),
            None => Column::Answer(name.to_owned()),
        });
    }
    let missing: Vec<&str> = REQUIRED_COLUMNS
        .iter()
        .copied()
        .filter(|r| !seen.contains_key(*r))
        .collect();
    if !missing.is_empty() {
        errors.push(LineError::new(
            1,
            format!(
                "missing column(s) {}; the header needs {} (and may have code, external_ref, phone and answer columns)",
                missing.join(", "),
                REQUIRED_COLUMNS.join(",")
            ),
        ));
    }
    if errors.is_empty() {
        Ok(columns)
    } else {
        Err(errors)
    }
}

/// Ticket types by exact name, by case-insensitive name (when unambiguous) and by id.
struct TypeIndex {
    exact: HashMap<String, TicketTypeId>,
    folded: HashMap<String, Option<TicketTypeId>>,
    by_id: HashMap<String, TicketTypeId>,
    names: Vec<String>,
}

impl TypeIndex {
    fn new(types: &[TicketType]) -> Self {
        let mut folded = HashMap::new();
        for t in types {
            folded
                .entry(t.name.to_lowercase())
                .and_modify(|v| *v = None)
                .or_insert(Some(t.id));
        }
        Self {
            exact: types.iter().map(|t| (t.name.clone(), t.id)).collect(),
            folded,
            by_id: types.iter().map(|t| (t.id.to_string(), t.id)).collect(),
            names: types.iter().map(|t| t.name.clone()).collect(),
        }
    }

    fn find(&self, value: &str) -> Option<TicketTypeId> {
        self.exact
            .get(value)
            .copied()
            .or_else(|| self.folded.get(&value.to_lowercase()).copied().flatten())
            .or_else(|| self.by_id.get(&value.to_lowercase()).copied())
    }

    fn known(&self) -> String {
        if self.names.is_empty() {
            return "the event has no ticket types yet; create them first".to_owned();
        }
        let mut shown: Vec<String> = self
            .names
            .iter()
            .take(10)
            .map(|n| format!("{n:?}"))
            .collect();
        if self.names.len() > 10 {
            shown.push(format!("and {} more", self.names.len() - 10));
        }
        format!("known: {}", shown.join(", "))
    }
}

fn parse_row(
    record: &csv::ByteRecord,
    line: u64,
    columns: &[Column],
    types: &TypeIndex,
) -> Result<ImportRow, Vec<LineError>> {
    let mut errors = Vec::new();
    if record.len() != columns.len() {
        return Err(vec![LineError::new(
            line,
            format!(
                "{} fields, but the header has {} columns",
                record.len(),
                columns.len()
            ),
        )]);
    }
    let mut first_name = String::new();
    let mut last_name = String::new();
    let mut email = None;
    let mut phone = None;
    let mut ticket_type = None;
    let mut code = None;
    let mut external_ref = None;
    let mut answers = Answers::new();
    for (raw, column) in record.iter().zip(columns) {
        let name = match column {
            Column::Known(k) => *k,
            Column::Answer(a) => a.as_str(),
        };
        let mut fail = |message: String| errors.push(LineError::new(line, message));
        let Ok(value) = std::str::from_utf8(raw) else {
            fail(format!("{name}: not valid UTF-8; save the file as UTF-8"));
            continue;
        };
        let value = value.trim();
        let single_line = |max: usize, fail: &mut dyn FnMut(String)| -> Option<String> {
            if value.chars().any(char::is_control) {
                fail(format!(
                    "{name}: contains a control character or line break"
                ));
                None
            } else if value.chars().count() > max {
                fail(format!("{name}: longer than {max} characters"));
                None
            } else {
                Some(value.to_owned())
            }
        };
        match column {
            Column::Known("first_name") => {
                first_name = single_line(MAX_NAME_CHARS, &mut fail).unwrap_or_default();
            }
            Column::Known("last_name") => {
                last_name = single_line(MAX_NAME_CHARS, &mut fail).unwrap_or_default();
            }
            Column::Known("email") => {
                if let Some(v) = single_line(MAX_EMAIL_CHARS, &mut fail).filter(|v| !v.is_empty()) {
                    if plausible_email(&v) {
                        email = Some(v);
                    } else {
                        fail(format!("email: {v:?} is not an email address"));
                    }
                }
            }
            Column::Known("phone") => {
                phone = single_line(MAX_PHONE_CHARS, &mut fail).filter(|v| !v.is_empty());
            }
            Column::Known("external_ref") => {
                external_ref = single_line(MAX_REF_CHARS, &mut fail).filter(|v| !v.is_empty());
            }
            Column::Known("ticket_type") => {
                if value.is_empty() {
                    fail("ticket_type: empty; every row needs a ticket type".to_owned());
                } else if let Some(id) = types.find(value) {
                    ticket_type = Some(id);
                } else {
                    let shown: String = value.chars().take(60).collect();
                    fail(format!(
                        "ticket_type: no ticket type {shown:?} in this event ({})",
                        types.known()
                    ));
                }
            }
            Column::Known("code") => {
                if !value.is_empty() {
                    match TicketCode::parse(value) {
                        Ok(TicketCode::Opaque(opaque)) => code = Some(opaque.as_str().to_owned()),
                        Ok(TicketCode::Signed(_)) | Err(_)
                            if value
                                .get(..SIGNED_PREFIX.len())
                                .is_some_and(|p| p.eq_ignore_ascii_case(SIGNED_PREFIX)) =>
                        {
                            fail(format!(
                                "code: codes starting with {SIGNED_PREFIX} are reserved for signed codes; leave code empty and the server issues one"
                            ));
                        }
                        Ok(TicketCode::Signed(_)) => {}
                        Err(err) => fail(format!("code: {err}")),
                    }
                }
            }
            Column::Known(_) => {}
            Column::Answer(key) => {
                if value.contains('\0')
                    || value
                        .chars()
                        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
                {
                    fail(format!("{key}: contains a control character"));
                } else if value.chars().count() > MAX_ANSWER_CHARS {
                    fail(format!("{key}: longer than {MAX_ANSWER_CHARS} characters"));
                } else if !value.is_empty() {
                    answers.insert(key.clone(), serde_json::Value::String(value.to_owned()));
                }
            }
        }
    }
    if errors.is_empty() && first_name.is_empty() && last_name.is_empty() {
        errors.push(LineError::new(
            line,
            "no name: first_name or last_name is needed",
        ));
    }
    if errors.is_empty() && email.is_none() && external_ref.is_none() {
        errors.push(LineError::new(
            line,
            "neither email nor external_ref: one is needed to recognise the attendee on a re-import",
        ));
    }
    match (errors.is_empty(), ticket_type) {
        (true, Some(ticket_type_id)) => Ok(ImportRow {
            line,
            first_name,
            last_name,
            email,
            phone,
            ticket_type_id,
            code,
            external_ref,
            answers,
        }),
        _ => Err(errors),
    }
}

/// One `@` with something on both sides, a dot in the domain, no spaces.
fn plausible_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !value.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::UnixMillis;
    use sync_protocol::crypto::SecretKey;
    use sync_protocol::ids::{EventId, TicketId};
    use sync_protocol::ticket_code::{CodeClaims, issue_server_code};

    fn types() -> Vec<TicketType> {
        let mut rng = rand::rngs::OsRng;
        vec![
            TicketType {
                id: TicketTypeId::new(UnixMillis(1_790_000_000_000), &mut rng),
                name: "Day pass".into(),
                valid_from: None,
                valid_until: None,
            },
            TicketType {
                id: TicketTypeId::new(UnixMillis(1_790_000_000_000), &mut rng),
                name: "VIP".into(),
                valid_from: None,
                valid_until: None,
            },
        ]
    }

    fn run(text: &[u8]) -> Result<Vec<ImportRow>, Vec<LineError>> {
        parse(text, &types(), &mut |_| {})
    }

    fn lines(errors: &[LineError]) -> Vec<u64> {
        errors.iter().map(|e| e.line).collect()
    }

    #[test]
    fn a_good_file_with_answers_bom_and_any_column_order() {
        let rows = run(
            "\u{feff}email,ticket_type,first_name,last_name,Diet,code,external_ref\n\
             ada@example.org,Day pass,Ada,Lovelace,vegan,,R-1\n\
             grace@example.org,vip,Grace,Hopper,,OPAQUE-42,\n\
             \n\
             \"=cmd|' /C calc'!A0\",Day pass,\"Bob, Jr\",\"O\"\"Neil\",=1+1,,R-3\n"
                .as_bytes(),
        );
        // The third row's email is not an address.
        let errors = rows.unwrap_err();
        assert_eq!(lines(&errors), vec![5]);
        let rows = run(
            "\u{feff}email,ticket_type,first_name,last_name,Diet,code,external_ref\n\
             ada@example.org,Day pass,Ada,Lovelace,vegan,,R-1\n\
             grace@example.org,vip,Grace,Hopper,,OPAQUE-42,\n\
             \n\
             bob@example.org,Day pass,\"Bob, Jr\",\"O\"\"Neil\",=1+1,,R-3\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].answers["Diet"], "vegan");
        assert_eq!(rows[0].external_ref.as_deref(), Some("R-1"));
        assert_eq!(rows[0].code, None);
        assert_eq!(rows[1].code.as_deref(), Some("OPAQUE-42"));
        assert!(rows[1].answers.is_empty());
        assert_eq!(rows[2].line, 5);
        assert_eq!(rows[2].first_name, "Bob, Jr");
        assert_eq!(rows[2].last_name, "O\"Neil");
        // A formula stays text.
        assert_eq!(rows[2].answers["Diet"], "=1+1");
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let key = SecretKey::generate(&mut rand::rngs::OsRng);
        let mut rng = rand::rngs::OsRng;
        let now = UnixMillis(1_790_000_000_000);
        let signed = issue_server_code(
            EventId::new(now, &mut rng),
            &CodeClaims {
                ticket_id: TicketId::new(now, &mut rng),
                ticket_type_id: TicketTypeId::new(now, &mut rng),
                valid_from: None,
                valid_until: None,
            },
            &key,
        )
        .unwrap();
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        let text = format!(
            "first_name,last_name,email,ticket_type,code,external_ref\n\
             Ada,Lovelace,ada@example.org,Day pass,,\n\
             Bad,Type,b@example.org,Platinum,,\n\
             {long},L,c@example.org,VIP,,\n\
             Sig,Ned,d@example.org,VIP,{},\n\
             Few,Fields\n\
             Ada,Again,ADA@example.org,Day pass,,\n\
             No,Key,,VIP,,\n\
             Gp,Lower,e@example.org,VIP,gp1:abc,\n\
             Nul,Byte,f@example.org,VIP,,ref\u{0}x\n",
            signed.as_str()
        );
        let errors = run(text.as_bytes()).unwrap_err();
        assert_eq!(lines(&errors), vec![3, 4, 5, 6, 7, 8, 9, 10], "{errors:#?}");
        assert!(errors[0].message.contains("Platinum"), "{}", errors[0]);
        assert!(errors[0].message.contains("\"Day pass\""), "{}", errors[0]);
        assert!(errors[2].message.contains("reserved"), "{}", errors[2]);
        assert!(errors[4].message.contains("line 2"), "{}", errors[4]);
    }

    #[test]
    fn hostile_headers_and_encodings() {
        let dup = run(b"first_name,last_name,email,ticket_type,EMAIL\nA,B,a@b.cd,VIP,x\n");
        assert!(dup.unwrap_err()[0].message.contains("repeats column 3"));
        let missing = run(b"first_name,email\nA,a@b.cd\n").unwrap_err();
        assert!(missing[0].message.contains("last_name, ticket_type"));
        let latin1 = run(
            b"first_name,last_name,email,ticket_type\nJos\xe9,B,a@b.cd,VIP\nA,B\xff,c@d.ef,VIP\n",
        )
        .unwrap_err();
        assert_eq!(lines(&latin1), vec![2, 3]);
        assert!(latin1[0].message.contains("UTF-8"));
        assert_eq!(run(b"").unwrap_err()[0].line, 1);
        assert!(
            run(b"first_name,last_name,email,ticket_type\n").unwrap_err()[0]
                .message
                .contains("no rows")
        );
        let huge = format!(
            "first_name,last_name,email,ticket_type,notes\nA,B,a@b.cd,VIP,{}\n",
            "y".repeat(MAX_ANSWER_CHARS + 1)
        );
        assert!(
            run(huge.as_bytes()).unwrap_err()[0]
                .message
                .contains("longer")
        );
    }

    #[test]
    fn the_error_list_is_bounded() {
        let mut text = String::from("first_name,last_name,email,ticket_type\n");
        for _ in 0..(MAX_ERRORS + 50) {
            text.push_str("A,B,a@b.cd,Nope\n");
        }
        let errors = run(text.as_bytes()).unwrap_err();
        assert_eq!(errors.len(), MAX_ERRORS + 1);
        assert!(errors.last().unwrap().message.contains("stopped"));
    }
}
