//! Registration forms: definitions, the checks on a definition, and the validation of answers.
//!
//! A [`Form`] is pages of sections of [`Field`]s. An admin defines it; the server checks it with
//! [`validate_definition`] before it goes into an event package; the kiosk shows the fields that
//! [`visible_fields`] returns and, on submit, cleans the answers with [`validate_answers`], which
//! the server runs again on the registration it receives. Both sides run this same code, so they
//! agree on every answer.
//!
//! # Rules
//!
//! - A field's `id` is its answer key: 1 to 64 characters of `[a-z0-9_]`, unique in the form.
//!   Page, section and choice ids follow the same rule (unique among pages, among sections, and
//!   among one field's choices).
//! - `validation.min` / `validation.max` bound the length in characters of a text, multiline,
//!   email or phone answer; the value of a number; the count of options ticked in a multiple
//!   choice; and, as `"YYYY-MM-DD"` strings, a date. `validation.pattern` is a [`regex`] that must
//!   match the whole trimmed answer of a text-like field (it is anchored at both ends);
//!   `validation.pattern_message` is what the person sees when it does not.
//!   `validation.integer` allows only whole numbers.
//! - `show_when` shows a field only when an *earlier* field's answer passes a test: `equals`,
//!   `not_equals`, `one_of` (for a multiple choice: one of the ticked options), `is_answered`
//!   (for a checkbox: ticked) or `checked`. A test on an unanswered or hidden field is false, so a
//!   field whose controlling field is hidden is hidden too, and conditions chain. A hidden field is
//!   never required and its answer is dropped.
//! - Answers are a JSON object keyed by field id ([`Answers`]). A missing key, `null`, a blank
//!   string and an empty list all mean "not answered". Strings come back trimmed; a number may
//!   arrive as a JSON number or a string (`"12.5"`, no exponent, `.` as the decimal point) and
//!   comes back as a JSON number; a country code comes back upper-case; the ticked options of a
//!   multiple choice come back once each, in the form's order; an optional unticked checkbox is
//!   kept as `false`. A required checkbox (a consent) must be `true`.
//! - Every size is bounded (see [`limits`]), so a hostile definition or answer set costs at most
//!   time and memory in proportion to its own size.
//!
//! # Example
//!
//! The JSON shape, as stored and as carried in event packages:
//!
//! ```
//! use sync_protocol::forms::{validate_answers, validate_definition, visible_fields, Form};
//!
//! let form: Form = serde_json::from_str(r#"{
//!   "id": "01890a5d-ac96-774b-bcce-b302099a8057",
//!   "version": 3,
//!   "title": "Walk-in registration",
//!   "pages": [{
//!     "id": "about_you",
//!     "title": "About you",
//!     "sections": [{
//!       "id": "contact",
//!       "title": "Contact",
//!       "fields": [
//!         { "id": "company", "label": "Company", "kind": "text",
//!           "help": "As it should appear on your badge",
//!           "validation": { "max": 60 } },
//!         { "id": "badge_no", "label": "Member number", "kind": "text",
//!           "validation": { "pattern": "[A-Z]{2}-[0-9]{4}",
//!                           "pattern_message": "Two letters, a dash and four digits" } },
//!         { "id": "age", "label": "Age", "kind": "number",
//!           "validation": { "min": 0, "max": 120, "integer": true } },
//!         { "id": "arrival", "label": "Arrival", "kind": "date",
//!           "validation": { "min": "2025-06-01", "max": "2025-06-30" } },
//!         { "id": "country", "label": "Country", "kind": "country", "required": true }
//!       ]
//!     }, {
//!       "id": "preferences",
//!       "title": "Preferences",
//!       "fields": [
//!         { "id": "diet", "label": "Diet", "kind": "single_choice",
//!           "choices": [ { "id": "none", "label": "No preference" },
//!                        { "id": "vegan", "label": "Vegan" },
//!                        { "id": "other", "label": "Other" } ] },
//!         { "id": "diet_other", "label": "Which diet?", "kind": "text", "required": true,
//!           "show_when": { "field": "diet", "op": "equals", "value": "other" } },
//!         { "id": "workshops", "label": "Workshops", "kind": "multiple_choice",
//!           "validation": { "max": 2 },
//!           "choices": [ { "id": "rust", "label": "Rust" }, { "id": "sql", "label": "SQL" },
//!                        { "id": "ux", "label": "UX" } ],
//!           "show_when": { "field": "diet", "op": "one_of", "value": ["none", "vegan"] } },
//!         { "id": "newsletter", "label": "Send me the newsletter", "kind": "checkbox" },
//!         { "id": "newsletter_email", "label": "Newsletter address", "kind": "email",
//!           "required": true, "show_when": { "field": "newsletter", "op": "checked" } },
//!         { "id": "photo_consent", "label": "I agree to be photographed", "kind": "checkbox",
//!           "required": true }
//!       ]
//!     }]
//!   }]
//! }"#).unwrap();
//! assert!(validate_definition(&form).is_ok());
//!
//! let answers = serde_json::from_str(r#"{
//!   "company": "  Acme  ", "age": "42", "country": "de", "diet": "vegan",
//!   "diet_other": "dropped: this field is hidden", "workshops": ["ux", "rust", "ux"],
//!   "newsletter": false, "photo_consent": true
//! }"#).unwrap();
//! let cleaned = validate_answers(&form, &answers).unwrap();
//! assert_eq!(cleaned["company"], "Acme");
//! assert_eq!(cleaned["age"], 42);
//! assert_eq!(cleaned["country"], "DE");
//! assert_eq!(cleaned["workshops"], serde_json::json!(["rust", "ux"]));
//! assert!(!cleaned.contains_key("diet_other"));
//! assert!(!visible_fields(&form, &answers).iter().any(|f| f.id == "newsletter_email"));
//! ```

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use crate::ids::FormId;
use crate::model::{Answers, FormRef};

use self::limits::{
    MAX_CHOICES, MAX_FIELDS, MAX_HELP_LEN, MAX_ID_LEN, MAX_LABEL_LEN, MAX_MULTILINE_LEN,
    MAX_NUMBER_LEN, MAX_PAGES, MAX_PATTERN_LEN, MAX_SECTIONS, MAX_TEXT_LEN, REGEX_SIZE_LIMIT,
};

/// Size limits on a definition and on answers.
///
/// They keep what a hostile upload or sync body can make us store or compute small. They are
/// part of the protocol: the kiosk and the server must agree on them.
pub mod limits {
    /// Pages in a form.
    pub const MAX_PAGES: usize = 50;
    /// Sections in a form, all pages together.
    pub const MAX_SECTIONS: usize = 200;
    /// Fields in a form, all pages together.
    pub const MAX_FIELDS: usize = 500;
    /// Choices of one field, and values of one `one_of` condition.
    pub const MAX_CHOICES: usize = 200;
    /// Characters of an id (form field, page, section, choice).
    pub const MAX_ID_LEN: usize = 64;
    /// Characters of a title, a label, a choice label or a pattern message.
    pub const MAX_LABEL_LEN: usize = 300;
    /// Characters of a field's help text.
    pub const MAX_HELP_LEN: usize = 2_000;
    /// Bytes of a pattern's source.
    pub const MAX_PATTERN_LEN: usize = 500;
    /// Bytes a compiled pattern may take (the `regex` crate's size limits).
    pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
    /// Characters of a text, email or phone answer (and the largest `max` such a field may set).
    pub const MAX_TEXT_LEN: usize = 1_000;
    /// Characters of a multiline answer (and the largest `max` such a field may set).
    pub const MAX_MULTILINE_LEN: usize = 10_000;
    /// Characters of a number given as a string.
    pub const MAX_NUMBER_LEN: usize = 40;
}

// ---------------------------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------------------------

/// A registration form at one version.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Form {
    pub id: FormId,
    /// Raised on every published change; a registration records the version it was made against.
    pub version: u32,
    pub title: String,
    #[serde(default)]
    pub pages: Vec<Page>,
}

impl Form {
    /// The reference a registration stores: this form at this version.
    pub fn form_ref(&self) -> FormRef {
        FormRef {
            id: self.id,
            version: self.version,
        }
    }

    /// Every field, in display order (page by page, section by section).
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.pages
            .iter()
            .flat_map(|page| &page.sections)
            .flat_map(|section| &section.fields)
    }

    /// The field with this id, if any.
    pub fn field(&self, id: &str) -> Option<&Field> {
        self.fields().find(|field| field.id == id)
    }
}

/// One page of a form (one screen at the kiosk).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub sections: Vec<Section>,
}

/// A group of fields under an optional heading.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub fields: Vec<Field>,
}

/// One question.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// The answer key: `[a-z0-9_]`, unique in the form.
    pub id: String,
    pub label: String,
    /// A hint shown under the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub help: Option<String>,
    pub kind: FieldKind,
    /// Whether an answer is needed (for a checkbox: that it is ticked). Ignored while hidden.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Validation::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Validation>", optional))]
    pub validation: Validation,
    /// The options of a single or multiple choice field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<Choice>>", optional))]
    pub choices: Vec<Choice>,
    /// Show the field only when this holds; always shown when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub show_when: Option<Condition>,
}

/// What kind of answer a field takes, and so how it is shown and checked.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// Several lines of text.
    Multiline,
    /// An email address.
    Email,
    /// A phone number: digits, spaces and `-.()/`, optionally starting with `+`.
    Phone,
    /// A number; whole only with `validation.integer`.
    Number,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// One of the field's choices, by choice id.
    SingleChoice,
    /// Any of the field's choices, as a list of choice ids.
    MultipleChoice,
    /// A tick box; a required one is a consent that must be ticked.
    Checkbox,
    /// An ISO 3166-1 alpha-2 country code.
    Country,
}

/// What `min` and `max` mean for a kind of field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BoundMeaning {
    /// Length of the answer in characters, up to a hard cap.
    Length(usize),
    /// Value of a number.
    Value,
    /// Count of ticked options.
    Count,
    /// Calendar dates.
    Date,
}

impl FieldKind {
    /// The name used on the wire, e.g. `single_choice`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Multiline => "multiline",
            FieldKind::Email => "email",
            FieldKind::Phone => "phone",
            FieldKind::Number => "number",
            FieldKind::Date => "date",
            FieldKind::SingleChoice => "single_choice",
            FieldKind::MultipleChoice => "multiple_choice",
            FieldKind::Checkbox => "checkbox",
            FieldKind::Country => "country",
        }
    }

    /// Whether fields of this kind take their answers from a list of choices.
    pub fn has_choices(self) -> bool {
        matches!(self, FieldKind::SingleChoice | FieldKind::MultipleChoice)
    }

    /// Whether the answer is free text (and so may have a length and a pattern).
    pub fn is_textual(self) -> bool {
        matches!(
            self,
            FieldKind::Text | FieldKind::Multiline | FieldKind::Email | FieldKind::Phone
        )
    }

    fn bound_meaning(self) -> Option<BoundMeaning> {
        match self {
            FieldKind::Multiline => Some(BoundMeaning::Length(MAX_MULTILINE_LEN)),
            FieldKind::Text | FieldKind::Email | FieldKind::Phone => {
                Some(BoundMeaning::Length(MAX_TEXT_LEN))
            }
            FieldKind::Number => Some(BoundMeaning::Value),
            FieldKind::MultipleChoice => Some(BoundMeaning::Count),
            FieldKind::Date => Some(BoundMeaning::Date),
            FieldKind::SingleChoice | FieldKind::Checkbox | FieldKind::Country => None,
        }
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Constraints on an answer beyond its kind.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// Lower bound: length, value, count or date depending on the kind (see the module doc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub min: Option<Bound>,
    /// Upper bound, with the same meaning as `min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub max: Option<Bound>,
    /// A regular expression (the `regex` crate's syntax) the whole trimmed answer must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub pattern: Option<String>,
    /// Shown to the person when `pattern` does not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub pattern_message: Option<String>,
    /// Number fields only: accept whole numbers only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub integer: bool,
}

impl Validation {
    /// Whether no constraint is set.
    pub fn is_empty(&self) -> bool {
        *self == Validation::default()
    }
}

/// A `min` or `max`: a JSON number, or a `"YYYY-MM-DD"` string for a date field.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bound {
    Number(#[cfg_attr(feature = "ts", ts(type = "number"))] Number),
    Date(String),
}

impl Bound {
    /// As a length or count: a whole number `>= 0`.
    fn as_count(&self) -> Option<usize> {
        match self {
            Bound::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
            Bound::Date(_) => None,
        }
    }

    fn as_value(&self) -> Option<f64> {
        match self {
            Bound::Number(n) => n.as_f64(),
            Bound::Date(_) => None,
        }
    }

    fn as_date(&self) -> Option<Date> {
        match self {
            Bound::Number(_) => None,
            Bound::Date(s) => parse_date(s),
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Number(n) => write!(f, "{n}"),
            Bound::Date(s) => f.write_str(&quoted(s)),
        }
    }
}

/// One option of a choice field. The `id` is what the answer holds.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub id: String,
    pub label: String,
}

/// When a field is shown: a test on the answer of an earlier field.
///
/// On the wire: `{"field": "diet", "op": "equals", "value": "other"}`, or without `value` for
/// `is_answered` and `checked`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// The id of the controlling field, which must come earlier in the form.
    pub field: String,
    #[serde(flatten)]
    pub op: Operator,
}

/// The test a [`Condition`] applies to the controlling field's cleaned answer. Every test is
/// false while that field is unanswered or hidden.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "value", rename_all = "snake_case")]
pub enum Operator {
    /// The answer is this value (for a multiple choice: this option is ticked).
    Equals(Value),
    /// The answer is not this value (for a multiple choice: this option is not ticked).
    NotEquals(Value),
    /// The answer is one of these values (for a multiple choice: one of them is ticked).
    OneOf(Vec<Value>),
    /// The field has an answer (for a checkbox: it is ticked).
    IsAnswered,
    /// A checkbox is ticked.
    Checked,
}

impl Condition {
    /// Whether the condition holds, given the cleaned answers of the fields before it.
    fn holds(&self, cleaned: &Answers) -> bool {
        cleaned
            .get(&self.field)
            .is_some_and(|answer| self.op.holds(answer))
    }
}

impl Operator {
    fn holds(&self, answer: &Value) -> bool {
        match self {
            Operator::Equals(expected) => answer_matches(answer, expected),
            Operator::NotEquals(expected) => !answer_matches(answer, expected),
            Operator::OneOf(values) => values.iter().any(|v| answer_matches(answer, v)),
            Operator::IsAnswered => *answer != Value::Bool(false),
            Operator::Checked => *answer == Value::Bool(true),
        }
    }
}

/// Whether a cleaned answer matches a condition value: a list matches when any item does, and
/// numbers compare by value (`2` equals `2.0`).
fn answer_matches(answer: &Value, expected: &Value) -> bool {
    match answer {
        Value::Array(items) => items.iter().any(|item| same_value(item, expected)),
        _ => same_value(answer, expected),
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// One problem in a form definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DefinitionError {
    /// Where, e.g. `pages[1].sections[0].fields[3].choices[2].id`.
    pub path: String,
    /// What is wrong, in English, for the admin.
    pub message: String,
}

/// Why an answer was refused, as a stable code for the UI and logs.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldErrorCode {
    /// A required field has no answer.
    Required,
    /// Text shorter than `min` characters, or fewer than `min` options ticked.
    TooShort,
    /// Text longer than `max` characters (or the hard cap), or more than `max` options ticked.
    TooLong,
    /// A number below `min`, or a date before `min`.
    TooSmall,
    /// A number above `max`, or a date after `max`.
    TooLarge,
    /// Text that does not match the field's pattern.
    Pattern,
    InvalidEmail,
    InvalidPhone,
    /// Not a number, or not a whole number where one is needed.
    InvalidNumber,
    /// Not a real calendar date written `YYYY-MM-DD`.
    InvalidDate,
    /// Not one of the field's choices.
    InvalidChoice,
    /// Not an ISO 3166-1 alpha-2 code.
    InvalidCountry,
    /// A required checkbox (a consent) is not ticked.
    MustAccept,
    /// The form has no field with this id.
    UnknownField,
    /// The JSON type is wrong for the field (e.g. a number for a text, a string for a checkbox).
    WrongType,
}

impl FieldErrorCode {
    /// The code as on the wire, e.g. `too_short`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldErrorCode::Required => "required",
            FieldErrorCode::TooShort => "too_short",
            FieldErrorCode::TooLong => "too_long",
            FieldErrorCode::TooSmall => "too_small",
            FieldErrorCode::TooLarge => "too_large",
            FieldErrorCode::Pattern => "pattern",
            FieldErrorCode::InvalidEmail => "invalid_email",
            FieldErrorCode::InvalidPhone => "invalid_phone",
            FieldErrorCode::InvalidNumber => "invalid_number",
            FieldErrorCode::InvalidDate => "invalid_date",
            FieldErrorCode::InvalidChoice => "invalid_choice",
            FieldErrorCode::InvalidCountry => "invalid_country",
            FieldErrorCode::MustAccept => "must_accept",
            FieldErrorCode::UnknownField => "unknown_field",
            FieldErrorCode::WrongType => "wrong_type",
        }
    }
}

impl fmt::Display for FieldErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the answer to one field was refused.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field id (or, for [`FieldErrorCode::UnknownField`], the refused key).
    pub field: String,
    pub code: FieldErrorCode,
    /// What is wrong, in English, for the person filling the form.
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// Checking a definition
// ---------------------------------------------------------------------------------------------

/// Checks a form definition and reports every problem found, each with its path.
///
/// When the form is over a size limit (pages, sections, fields) only that is reported, so the
/// work done on a hostile upload stays small.
pub fn validate_definition(form: &Form) -> Result<(), Vec<DefinitionError>> {
    let mut checker = Checker::default();
    if checker.check_sizes(form) {
        checker.check_form(form);
    }
    checker.finish()
}

/// A field with its path in the form.
struct Located<'f> {
    path: String,
    field: &'f Field,
}

fn located_fields(form: &Form) -> Vec<Located<'_>> {
    let mut fields = Vec::new();
    for (p, page) in form.pages.iter().enumerate() {
        for (s, section) in page.sections.iter().enumerate() {
            for (f, field) in section.fields.iter().enumerate() {
                let path = format!("pages[{p}].sections[{s}].fields[{f}]");
                fields.push(Located { path, field });
            }
        }
    }
    fields
}

/// Where each field id first occurs: its position in display order, and the field.
type Positions<'f> = HashMap<&'f str, (usize, &'f Field)>;

#[derive(Default)]
struct Checker {
    errors: Vec<DefinitionError>,
}

impl Checker {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(DefinitionError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn finish(self) -> Result<(), Vec<DefinitionError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }

    /// Reports counts over the limits; true when all are within them.
    fn check_sizes(&mut self, form: &Form) -> bool {
        let before = self.errors.len();
        let sections = form.pages.iter().map(|p| p.sections.len()).sum();
        let fields = form.fields().count();
        self.check_limit("pages", form.pages.len(), MAX_PAGES, "pages");
        self.check_limit("pages", sections, MAX_SECTIONS, "sections");
        self.check_limit("pages", fields, MAX_FIELDS, "fields");
        self.errors.len() == before
    }

    fn check_limit(&mut self, path: &str, count: usize, max: usize, what: &str) {
        if count > max {
            self.push(
                path,
                format!("the form has {count} {what}; at most {max} are allowed"),
            );
        }
    }

    fn check_form(&mut self, form: &Form) {
        self.check_text("title", &form.title, true, MAX_LABEL_LEN);
        self.check_pages(form);
        let fields = located_fields(form);
        let mut positions = Positions::new();
        for (index, located) in fields.iter().enumerate() {
            let field = located.field;
            positions.entry(&field.id).or_insert((index, field));
        }
        let mut seen = HashMap::new();
        for (index, located) in fields.iter().enumerate() {
            let Located { path, field } = located;
            self.check_unique_id(path, &field.id, "field", &mut seen);
            self.check_field(path, field);
            if let Some(condition) = &field.show_when {
                self.check_condition(path, index, condition, &positions);
            }
        }
    }

    fn check_pages(&mut self, form: &Form) {
        let mut page_ids = HashMap::new();
        let mut section_ids = HashMap::new();
        for (p, page) in form.pages.iter().enumerate() {
            let path = format!("pages[{p}]");
            self.check_unique_id(&path, &page.id, "page", &mut page_ids);
            self.check_text(&format!("{path}.title"), &page.title, false, MAX_LABEL_LEN);
            for (s, section) in page.sections.iter().enumerate() {
                let path = format!("{path}.sections[{s}]");
                self.check_unique_id(&path, &section.id, "section", &mut section_ids);
                let title = &section.title;
                self.check_text(&format!("{path}.title"), title, false, MAX_LABEL_LEN);
            }
        }
    }

    /// Checks the id of the element at `path`, and that no earlier one in `seen` has it.
    fn check_unique_id<'a>(
        &mut self,
        path: &str,
        id: &'a str,
        what: &str,
        seen: &mut HashMap<&'a str, String>,
    ) {
        let id_path = format!("{path}.id");
        if let Some(problem) = id_problem(id) {
            self.push(id_path, format!("{what} id {} {problem}", quoted(id)));
            return;
        }
        match seen.entry(id) {
            Entry::Occupied(first) => {
                let message = format!("duplicate {what} id `{id}`, first used at {}", first.get());
                self.push(id_path, message);
            }
            Entry::Vacant(slot) => {
                slot.insert(path.to_owned());
            }
        }
    }

    /// Checks a title, label or help text: not blank if `required`, at most `max` characters.
    fn check_text(&mut self, path: &str, text: &str, required: bool, max: usize) {
        if required && text.trim().is_empty() {
            self.push(path, "must not be empty");
        } else if text.chars().nth(max).is_some() {
            self.push(path, format!("must be at most {max} characters"));
        }
    }

    fn check_field(&mut self, path: &str, field: &Field) {
        self.check_text(&format!("{path}.label"), &field.label, true, MAX_LABEL_LEN);
        if let Some(help) = &field.help {
            self.check_text(&format!("{path}.help"), help, false, MAX_HELP_LEN);
        }
        self.check_choices(path, field);
        self.check_validation(&format!("{path}.validation"), field);
    }

    fn check_choices(&mut self, path: &str, field: &Field) {
        let choices = &field.choices;
        let kind = field.kind;
        let list_path = format!("{path}.choices");
        if !kind.has_choices() {
            if !choices.is_empty() {
                self.push(list_path, format!("{kind} fields have no choices"));
            }
            return;
        }
        if choices.is_empty() {
            self.push(
                list_path,
                format!("a {kind} field needs at least one choice"),
            );
            return;
        }
        if choices.len() > MAX_CHOICES {
            let message = format!(
                "{} choices; at most {MAX_CHOICES} are allowed",
                choices.len()
            );
            self.push(list_path, message);
            return;
        }
        let mut seen = HashMap::new();
        for (c, choice) in choices.iter().enumerate() {
            let path = format!("{list_path}[{c}]");
            self.check_unique_id(&path, &choice.id, "choice", &mut seen);
            self.check_text(&format!("{path}.label"), &choice.label, true, MAX_LABEL_LEN);
        }
    }

    fn check_validation(&mut self, path: &str, field: &Field) {
        let rules = &field.validation;
        let kind = field.kind;
        if let Some(pattern) = &rules.pattern {
            self.check_pattern(&format!("{path}.pattern"), kind, pattern);
        }
        if let Some(message) = &rules.pattern_message {
            let message_path = format!("{path}.pattern_message");
            if rules.pattern.is_none() {
                self.push(message_path, "a pattern message needs a pattern");
            } else {
                self.check_text(&message_path, message, true, MAX_LABEL_LEN);
            }
        }
        if rules.integer && kind != FieldKind::Number {
            let message = format!("only number fields can be whole-number only, not {kind} fields");
            self.push(format!("{path}.integer"), message);
        }
        if rules.min.is_some() || rules.max.is_some() {
            self.check_bounds(path, field);
        }
    }

    fn check_pattern(&mut self, path: &str, kind: FieldKind, pattern: &str) {
        if !kind.is_textual() {
            let message = format!(
                "a pattern applies only to text, multiline, email and phone fields, \
                 not to {kind} fields"
            );
            self.push(path, message);
        } else if let Err(error) = compile_pattern(pattern) {
            self.push(path, error.to_string());
        }
    }

    fn check_bounds(&mut self, path: &str, field: &Field) {
        let Some(meaning) = field.kind.bound_meaning() else {
            let message = format!("min and max do not apply to {} fields", field.kind);
            self.push(path, message);
            return;
        };
        let Validation { min, max, .. } = &field.validation;
        match meaning {
            BoundMeaning::Length(cap) => self.check_length_bounds(path, field, cap),
            BoundMeaning::Count => self.check_count_bounds(path, field),
            BoundMeaning::Value => {
                let min = self.bound(path, "min", min, Bound::as_value, "a number");
                let max = self.bound(path, "max", max, Bound::as_value, "a number");
                self.check_order(path, min, max);
            }
            BoundMeaning::Date => {
                let expected = "a real date written \"YYYY-MM-DD\"";
                let min = self.bound(path, "min", min, Bound::as_date, expected);
                let max = self.bound(path, "max", max, Bound::as_date, expected);
                self.check_order(path, min, max);
            }
        }
    }

    fn check_length_bounds(&mut self, path: &str, field: &Field, cap: usize) {
        let Validation { min, max, .. } = &field.validation;
        let expected = "a whole number of characters";
        let min = self.bound(path, "min", min, Bound::as_count, expected);
        let max = self.bound(path, "max", max, Bound::as_count, expected);
        for (name, value) in [("min", min), ("max", max)] {
            if let Some(value) = value
                && value > cap
            {
                let message = format!(
                    "{name} ({value}) is over the limit of {cap} characters for {} fields",
                    field.kind
                );
                self.push(format!("{path}.{name}"), message);
            }
        }
        self.check_order(path, min, max);
    }

    fn check_count_bounds(&mut self, path: &str, field: &Field) {
        let Validation { min, max, .. } = &field.validation;
        let expected = "a whole number of options";
        let min = self.bound(path, "min", min, Bound::as_count, expected);
        let max = self.bound(path, "max", max, Bound::as_count, expected);
        let choices = field.choices.len();
        if let Some(min) = min
            && min > choices
        {
            let message = format!("min ({min}) is more than the {choices} choices of the field");
            self.push(format!("{path}.min"), message);
        }
        self.check_order(path, min, max);
    }

    /// Reads one bound with `read`, reporting it when it is not `expected`.
    fn bound<T>(
        &mut self,
        path: &str,
        name: &str,
        bound: &Option<Bound>,
        read: impl Fn(&Bound) -> Option<T>,
        expected: &str,
    ) -> Option<T> {
        let bound = bound.as_ref()?;
        let value = read(bound);
        if value.is_none() {
            self.push(
                format!("{path}.{name}"),
                format!("{name} must be {expected}, not {bound}"),
            );
        }
        value
    }

    fn check_order<T: PartialOrd + fmt::Display>(
        &mut self,
        path: &str,
        min: Option<T>,
        max: Option<T>,
    ) {
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            self.push(path, format!("min ({min}) is greater than max ({max})"));
        }
    }

    fn check_condition(
        &mut self,
        path: &str,
        index: usize,
        condition: &Condition,
        positions: &Positions<'_>,
    ) {
        let path = format!("{path}.show_when");
        let target = condition.field.as_str();
        let Some(&(position, controller)) = positions.get(target) else {
            self.push(path, format!("refers to unknown field {}", quoted(target)));
            return;
        };
        if position == index {
            self.push(
                path,
                format!("field `{target}` depends on itself (a cycle)"),
            );
        } else if position > index {
            let message = format!(
                "refers to field `{target}`, which comes later in the form; \
                 a field may only depend on an earlier one"
            );
            self.push(path, message);
        } else {
            self.check_operator(&path, controller, &condition.op);
        }
    }

    fn check_operator(&mut self, path: &str, controller: &Field, op: &Operator) {
        let value_path = format!("{path}.value");
        match op {
            Operator::Equals(value) | Operator::NotEquals(value) => {
                self.check_condition_value(&value_path, controller, value);
            }
            Operator::OneOf(values) => self.check_one_of(&value_path, controller, values),
            Operator::IsAnswered => {}
            Operator::Checked => {
                if controller.kind != FieldKind::Checkbox {
                    let message = format!(
                        "`checked` applies only to checkbox fields; `{}` is a {} field",
                        controller.id, controller.kind
                    );
                    self.push(format!("{path}.op"), message);
                }
            }
        }
    }

    fn check_one_of(&mut self, path: &str, controller: &Field, values: &[Value]) {
        if values.is_empty() {
            self.push(path, "one_of needs at least one value");
        } else if values.len() > MAX_CHOICES {
            let message = format!("one_of has {} values; at most {MAX_CHOICES}", values.len());
            self.push(path, message);
        } else {
            for (i, value) in values.iter().enumerate() {
                self.check_condition_value(&format!("{path}[{i}]"), controller, value);
            }
        }
    }

    fn check_condition_value(&mut self, path: &str, controller: &Field, value: &Value) {
        if let Some(problem) = condition_value_problem(controller, value) {
            self.push(path, problem);
        }
    }
}

/// Why `id` is not a valid id, if it is not.
fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        Some("must not be empty".to_owned())
    } else if id.len() > MAX_ID_LEN {
        Some(format!("is longer than {MAX_ID_LEN} characters"))
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Some("may contain only a-z, 0-9 and _".to_owned())
    } else {
        None
    }
}

/// Why `value` can never be an answer of `controller`, if it cannot.
fn condition_value_problem(controller: &Field, value: &Value) -> Option<String> {
    let id = &controller.id;
    let kind = controller.kind;
    match (kind, value) {
        (FieldKind::SingleChoice | FieldKind::MultipleChoice, Value::String(s)) => {
            let known = controller.choices.iter().any(|c| c.id == *s);
            (!known).then(|| format!("{} is not a choice of field `{id}`", quoted(s)))
        }
        (FieldKind::Date, Value::String(s)) => parse_date(s)
            .is_none()
            .then(|| format!("{} is not a real date written YYYY-MM-DD", quoted(s))),
        (FieldKind::Country, Value::String(s)) => (!is_country_code(s))
            .then(|| format!("{} is not an upper-case ISO 3166-1 alpha-2 code", quoted(s))),
        (FieldKind::Checkbox, Value::Bool(_)) | (FieldKind::Number, Value::Number(_)) => None,
        (_, Value::String(_)) if kind.is_textual() => None,
        _ => Some(format!(
            "a condition on {kind} field `{id}` compares with {}, not {value}",
            expected_condition_value(kind)
        )),
    }
}

fn expected_condition_value(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::SingleChoice | FieldKind::MultipleChoice => "a choice id",
        FieldKind::Checkbox => "true or false",
        FieldKind::Number => "a number",
        FieldKind::Date => "a \"YYYY-MM-DD\" string",
        FieldKind::Country => "a country code string",
        FieldKind::Text | FieldKind::Multiline | FieldKind::Email | FieldKind::Phone => "a string",
    }
}

/// Why a pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum PatternError {
    #[error("a pattern must be at most {MAX_PATTERN_LEN} bytes")]
    TooLong,
    #[error("the pattern is too complex")]
    TooComplex,
    #[error("invalid regular expression: {0}")]
    Invalid(String),
}

/// Checks a pattern as written, then compiles it anchored so it must match the whole answer.
///
/// The pattern is checked on its own first: wrapping alone would turn an invalid `a)(b` into a
/// valid `\A(?:a)(b)\z`.
fn compile_pattern(pattern: &str) -> Result<Regex, PatternError> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(PatternError::TooLong);
    }
    build_regex(pattern)?;
    build_regex(&format!(r"\A(?:{pattern})\z"))
}

fn build_regex(source: &str) -> Result<Regex, PatternError> {
    RegexBuilder::new(source)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|error| match error {
            regex::Error::CompiledTooBig(_) => PatternError::TooComplex,
            other => PatternError::Invalid(other.to_string()),
        })
}

// ---------------------------------------------------------------------------------------------
// Validating answers
// ---------------------------------------------------------------------------------------------

/// Checks answers against a form and returns them cleaned, or every problem found.
///
/// Fields are taken in display order; a field is checked only while shown (see
/// [`visible_fields`]). The cleaned answers hold only shown, answered fields, with the
/// normalisations described in the module doc. A key that is no field of the form is refused
/// with [`FieldErrorCode::UnknownField`]; an answer to a hidden field is dropped silently.
pub fn validate_answers(form: &Form, answers: &Answers) -> Result<Answers, Vec<FieldError>> {
    let outcome = evaluate(form, answers);
    if outcome.errors.is_empty() {
        Ok(outcome.cleaned)
    } else {
        Err(outcome.errors)
    }
}

/// Checks the answers to the questions a gate asks (its required fields, `asked`), each on its
/// own, and returns them cleaned, or every problem found.
///
/// At a gate every asked field must be answered, whether or not the form requires it (a
/// checkbox: ticked), and conditions are not applied: the gate asks exactly these questions. An
/// asked id that is no field of the form, or an answer to a field not asked, is refused with
/// [`FieldErrorCode::UnknownField`].
pub fn validate_gate_answers(
    form: &Form,
    asked: &[String],
    answers: &Answers,
) -> Result<Answers, Vec<FieldError>> {
    let mut cleaned = Answers::new();
    let mut errors = Vec::new();
    for id in asked {
        let Some(field) = form.field(id) else {
            errors.push(FieldError {
                field: id.clone(),
                code: FieldErrorCode::UnknownField,
                message: format!("This form has no field {}.", quoted(id)),
            });
            continue;
        };
        let required = Field {
            required: true,
            ..field.clone()
        };
        match clean_field(&required, answers.get(id)) {
            Ok(Some(value)) => {
                cleaned.insert(id.clone(), value);
            }
            Ok(None) => errors.push(missing(&required).at(id)),
            Err(problem) => errors.push(problem.at(id)),
        }
    }
    errors.extend(
        answers
            .keys()
            .filter(|key| !asked.contains(key))
            .map(|key| FieldError {
                field: key.clone(),
                code: FieldErrorCode::UnknownField,
                message: format!("This gate does not ask {}.", quoted(key)),
            }),
    );
    if errors.is_empty() {
        Ok(cleaned)
    } else {
        Err(errors)
    }
}

/// The fields to show for these (possibly partial) answers, in display order.
///
/// A condition sees the controlling field's answer as [`validate_answers`] would clean it: an
/// answer that would be refused counts as no answer.
pub fn visible_fields<'f>(form: &'f Form, answers: &Answers) -> Vec<&'f Field> {
    evaluate(form, answers).visible
}

/// The result of one pass over a form's fields.
struct Outcome<'f> {
    visible: Vec<&'f Field>,
    cleaned: Answers,
    errors: Vec<FieldError>,
}

fn evaluate<'f>(form: &'f Form, answers: &Answers) -> Outcome<'f> {
    let mut outcome = Outcome {
        visible: Vec::new(),
        cleaned: Answers::new(),
        errors: Vec::new(),
    };
    for field in form.fields() {
        if !is_shown(field, &outcome.cleaned) {
            continue;
        }
        outcome.visible.push(field);
        match clean_field(field, answers.get(&field.id)) {
            Ok(Some(value)) => {
                outcome.cleaned.insert(field.id.clone(), value);
            }
            Ok(None) => {}
            Err(problem) => outcome.errors.push(problem.at(&field.id)),
        }
    }
    outcome.errors.extend(unknown_keys(form, answers));
    outcome
}

/// Whether a field is shown, given the cleaned answers of the fields before it.
fn is_shown(field: &Field, cleaned: &Answers) -> bool {
    field
        .show_when
        .as_ref()
        .is_none_or(|condition| condition.holds(cleaned))
}

fn unknown_keys(form: &Form, answers: &Answers) -> Vec<FieldError> {
    let known: HashSet<&str> = form.fields().map(|field| field.id.as_str()).collect();
    answers
        .keys()
        .filter(|key| !known.contains(key.as_str()))
        .map(|key| FieldError {
            field: key.clone(),
            code: FieldErrorCode::UnknownField,
            message: format!("This form has no field {}.", quoted(key)),
        })
        .collect()
}

/// A refused answer, before it is tied to its field.
#[derive(Debug)]
struct Problem {
    code: FieldErrorCode,
    message: String,
}

impl Problem {
    fn new(code: FieldErrorCode, message: impl Into<String>) -> Self {
        Problem {
            code,
            message: message.into(),
        }
    }

    fn wrong_type(expected: &str) -> Self {
        Problem::new(FieldErrorCode::WrongType, format!("Expected {expected}."))
    }

    fn at(self, field: &str) -> FieldError {
        FieldError {
            field: field.to_owned(),
            code: self.code,
            message: self.message,
        }
    }
}

/// A cleaned answer (`None`: not answered), or why it is refused.
type Cleaned = Result<Option<Value>, Problem>;

fn clean_field(field: &Field, raw: Option<&Value>) -> Cleaned {
    let cleaned = match raw {
        None | Some(Value::Null) => None,
        Some(value) => clean_value(field, value)?,
    };
    match cleaned {
        None if field.required => Err(missing(field)),
        other => Ok(other),
    }
}

fn missing(field: &Field) -> Problem {
    if field.kind == FieldKind::Checkbox {
        Problem::new(FieldErrorCode::MustAccept, "This must be accepted.")
    } else {
        Problem::new(FieldErrorCode::Required, "This field is required.")
    }
}

fn clean_value(field: &Field, value: &Value) -> Cleaned {
    match field.kind {
        FieldKind::Text | FieldKind::Multiline | FieldKind::Email | FieldKind::Phone => {
            clean_text(field, value)
        }
        FieldKind::Number => clean_number(field, value),
        FieldKind::Date => clean_date(field, value),
        FieldKind::SingleChoice => clean_single_choice(field, value),
        FieldKind::MultipleChoice => clean_multiple_choice(field, value),
        FieldKind::Checkbox => clean_checkbox(field, value),
        FieldKind::Country => clean_country(value),
    }
}

/// The trimmed string, `None` when blank; any other JSON type is refused.
fn non_blank<'v>(value: &'v Value, expected: &str) -> Result<Option<&'v str>, Problem> {
    match value {
        Value::String(s) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
        _ => Err(Problem::wrong_type(expected)),
    }
}

fn clean_text(field: &Field, value: &Value) -> Cleaned {
    let Some(text) = non_blank(value, "text")? else {
        return Ok(None);
    };
    check_length(field, text)?;
    check_format(field.kind, text)?;
    check_pattern(&field.validation, text)?;
    Ok(Some(Value::String(text.to_owned())))
}

fn check_length(field: &Field, text: &str) -> Result<(), Problem> {
    let rules = &field.validation;
    let cap = match field.kind.bound_meaning() {
        Some(BoundMeaning::Length(cap)) => cap,
        _ => MAX_TEXT_LEN,
    };
    let max = rules
        .max
        .as_ref()
        .and_then(Bound::as_count)
        .map_or(cap, |max| max.min(cap));
    let min = rules.min.as_ref().and_then(Bound::as_count).unwrap_or(0);
    if text.chars().nth(max).is_some() {
        let message = format!("Must be at most {}.", plural(max, "character"));
        return Err(Problem::new(FieldErrorCode::TooLong, message));
    }
    if text.chars().count() < min {
        let message = format!("Must be at least {}.", plural(min, "character"));
        return Err(Problem::new(FieldErrorCode::TooShort, message));
    }
    Ok(())
}

fn check_format(kind: FieldKind, text: &str) -> Result<(), Problem> {
    match kind {
        FieldKind::Email if !is_email(text) => Err(Problem::new(
            FieldErrorCode::InvalidEmail,
            "Enter a valid email address.",
        )),
        FieldKind::Phone if !is_phone(text) => Err(Problem::new(
            FieldErrorCode::InvalidPhone,
            "Enter a valid phone number: digits, optionally starting with +.",
        )),
        _ => Ok(()),
    }
}

/// Checks the field's pattern, if it has a usable one (an unusable one is a definition error,
/// reported by [`validate_definition`], and is not held against the person).
fn check_pattern(rules: &Validation, text: &str) -> Result<(), Problem> {
    let Some(Ok(regex)) = rules.pattern.as_deref().map(compile_pattern) else {
        return Ok(());
    };
    if regex.is_match(text) {
        return Ok(());
    }
    let message = rules
        .pattern_message
        .clone()
        .unwrap_or_else(|| "This is not in the expected format.".to_owned());
    Err(Problem::new(FieldErrorCode::Pattern, message))
}

fn clean_number(field: &Field, value: &Value) -> Cleaned {
    let number = match value {
        Value::Number(n) => n.clone(),
        Value::String(s) if s.trim().is_empty() => return Ok(None),
        Value::String(s) => parse_decimal(s.trim()).ok_or_else(|| {
            Problem::new(
                FieldErrorCode::InvalidNumber,
                "Enter a number, such as 12 or 12.5.",
            )
        })?,
        _ => return Err(Problem::wrong_type("a number")),
    };
    let number = if field.validation.integer {
        whole_number(&number)
            .ok_or_else(|| Problem::new(FieldErrorCode::InvalidNumber, "Enter a whole number."))?
    } else {
        number
    };
    check_range(&field.validation, &number)?;
    Ok(Some(Value::Number(number)))
}

/// Parses `[+-]digits[.digits]` (no exponent, no infinity) into a JSON number, whole numbers as
/// integers.
fn parse_decimal(text: &str) -> Option<Number> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if text.len() > MAX_NUMBER_LEN || !digits(whole) || !digits(fraction) {
        return None;
    }
    match text.parse::<i64>() {
        Ok(n) => Some(Number::from(n)),
        Err(_) => text.parse::<f64>().ok().and_then(Number::from_f64),
    }
}

/// Largest integer an `f64` holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The number as an integer, if it is whole (`3.0` becomes `3`).
fn whole_number(number: &Number) -> Option<Number> {
    if number.is_i64() || number.is_u64() {
        return Some(number.clone());
    }
    let value = number.as_f64()?;
    (value.fract() == 0.0 && value.abs() <= MAX_SAFE_INTEGER).then(|| Number::from(value as i64))
}

fn check_range(rules: &Validation, number: &Number) -> Result<(), Problem> {
    let Some(value) = number.as_f64() else {
        return Err(Problem::new(
            FieldErrorCode::InvalidNumber,
            "Enter a number.",
        ));
    };
    if let Some(min) = &rules.min
        && min.as_value().is_some_and(|min| value < min)
    {
        let message = format!("Must be at least {min}.");
        return Err(Problem::new(FieldErrorCode::TooSmall, message));
    }
    if let Some(max) = &rules.max
        && max.as_value().is_some_and(|max| value > max)
    {
        let message = format!("Must be at most {max}.");
        return Err(Problem::new(FieldErrorCode::TooLarge, message));
    }
    Ok(())
}

fn clean_date(field: &Field, value: &Value) -> Cleaned {
    let Some(text) = non_blank(value, "a date written YYYY-MM-DD")? else {
        return Ok(None);
    };
    let date = parse_date(text).ok_or_else(|| {
        Problem::new(
            FieldErrorCode::InvalidDate,
            "Enter a real date as YYYY-MM-DD.",
        )
    })?;
    let rules = &field.validation;
    if let Some(min) = rules.min.as_ref().and_then(Bound::as_date)
        && date < min
    {
        let message = format!("Must be on or after {min}.");
        return Err(Problem::new(FieldErrorCode::TooSmall, message));
    }
    if let Some(max) = rules.max.as_ref().and_then(Bound::as_date)
        && date > max
    {
        let message = format!("Must be on or before {max}.");
        return Err(Problem::new(FieldErrorCode::TooLarge, message));
    }
    Ok(Some(Value::String(date.to_string())))
}

fn clean_single_choice(field: &Field, value: &Value) -> Cleaned {
    let Some(id) = non_blank(value, "a choice id")? else {
        return Ok(None);
    };
    check_choice(field, id)?;
    Ok(Some(Value::String(id.to_owned())))
}

fn check_choice(field: &Field, id: &str) -> Result<(), Problem> {
    if field.choices.iter().any(|choice| choice.id == id) {
        Ok(())
    } else {
        let message = format!("{} is not one of the options.", quoted(id));
        Err(Problem::new(FieldErrorCode::InvalidChoice, message))
    }
}

fn clean_multiple_choice(field: &Field, value: &Value) -> Cleaned {
    let expected = "a list of choice ids";
    let Value::Array(items) = value else {
        return Err(Problem::wrong_type(expected));
    };
    if items.len() > MAX_CHOICES {
        return Err(Problem::new(
            FieldErrorCode::TooLong,
            "Too many options chosen.",
        ));
    }
    let mut ticked = HashSet::new();
    for item in items {
        let Value::String(id) = item else {
            return Err(Problem::wrong_type(expected));
        };
        check_choice(field, id.trim())?;
        ticked.insert(id.trim());
    }
    if ticked.is_empty() {
        return Ok(None);
    }
    check_count(&field.validation, ticked.len())?;
    let in_form_order = field
        .choices
        .iter()
        .filter(|choice| ticked.contains(choice.id.as_str()))
        .map(|choice| Value::String(choice.id.clone()));
    Ok(Some(Value::Array(in_form_order.collect())))
}

fn check_count(rules: &Validation, count: usize) -> Result<(), Problem> {
    if let Some(min) = rules.min.as_ref().and_then(Bound::as_count)
        && count < min
    {
        let message = format!("Choose at least {}.", plural(min, "option"));
        return Err(Problem::new(FieldErrorCode::TooShort, message));
    }
    if let Some(max) = rules.max.as_ref().and_then(Bound::as_count)
        && count > max
    {
        let message = format!("Choose at most {}.", plural(max, "option"));
        return Err(Problem::new(FieldErrorCode::TooLong, message));
    }
    Ok(())
}

fn clean_checkbox(field: &Field, value: &Value) -> Cleaned {
    match value {
        Value::Bool(false) if field.required => Err(missing(field)),
        Value::Bool(ticked) => Ok(Some(Value::Bool(*ticked))),
        _ => Err(Problem::wrong_type("true or false")),
    }
}

fn clean_country(value: &Value) -> Cleaned {
    let Some(code) = non_blank(value, "a country code")? else {
        return Ok(None);
    };
    let code = code.to_ascii_uppercase();
    if is_country_code(&code) {
        Ok(Some(Value::String(code)))
    } else {
        let message = "Choose a country (a two-letter ISO code such as DE or US).";
        Err(Problem::new(FieldErrorCode::InvalidCountry, message))
    }
}

// ---------------------------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------------------------

/// Whether `text` looks like a deliverable email address: `local@domain.tld`, checked by hand
/// (a pragmatic subset of RFC 5321, allowing internationalised characters).
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    text.len() <= 254 && is_email_local(local) && is_email_domain(domain)
}

fn is_email_local(local: &str) -> bool {
    let forbidden = |c: char| c.is_whitespace() || c.is_control() || "@\"(),:;<>[\\]".contains(c);
    (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && !local.chars().any(forbidden)
}

fn is_email_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let top_level_ok = labels
        .last()
        .is_some_and(|tld| tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()));
    labels.len() >= 2 && labels.iter().all(label_ok) && top_level_ok
}

/// Fewest and most digits in a phone number (E.164 allows at most 15).
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 6..=15;

/// Whether `text` is a phone number: an optional leading `+`, then digits and the separators
/// ` -.()/`, with 6 to 15 digits.
fn is_phone(text: &str) -> bool {
    let body = text.strip_prefix('+').unwrap_or(text);
    let allowed = |c: char| c.is_ascii_digit() || " -.()/".contains(c);
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    body.chars().all(allowed) && PHONE_DIGITS.contains(&digits)
}

/// A calendar date, ordered by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Date {
    year: u32,
    month: u32,
    day: u32,
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Parses exactly `YYYY-MM-DD` (year 0001 to 9999) and accepts only real calendar dates.
fn parse_date(text: &str) -> Option<Date> {
    let &[y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = text.as_bytes() else {
        return None;
    };
    let date = Date {
        year: decimal(&[y1, y2, y3, y4])?,
        month: decimal(&[m1, m2])?,
        day: decimal(&[d1, d2])?,
    };
    let real = date.year >= 1
        && (1..=12).contains(&date.month)
        && (1..=days_in_month(date.year, date.month)).contains(&date.day);
    real.then_some(date)
}

/// The value of ASCII digits, or `None` if any byte is not one.
fn decimal(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Gregorian leap years: every fourth year, except centuries not divisible by 400.
fn is_leap_year(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// Whether `code` is an officially assigned ISO 3166-1 alpha-2 code (upper-case).
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && COUNTRY_CODES.binary_search(&code).is_ok()
}

/// The officially assigned ISO 3166-1 alpha-2 codes, sorted (249 of them). User-assigned codes
/// such as `XK` are not included.
///
/// Embedded rather than taken from a crate: it is 249 short strings that change about once a
/// decade, and the crates that carry it either lag behind, pull in far more data (names,
/// subdivisions) or need a newer compiler than this workspace.
pub const COUNTRY_CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

// ---------------------------------------------------------------------------------------------
// Message helpers
// ---------------------------------------------------------------------------------------------

/// `s` in backticks, cut to a readable length (ids from a hostile upload can be huge).
fn quoted(s: &str) -> String {
    const SHOWN: usize = 64;
    match s.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("`{}…`", &s[..cut]),
        None => format!("`{s}`"),
    }
}

/// "1 option", "3 options".
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    use FieldErrorCode::{
        InvalidChoice, InvalidCountry, InvalidDate, InvalidEmail, InvalidNumber, InvalidPhone,
        MustAccept, Pattern, Required, TooLarge, TooLong, TooShort, TooSmall, UnknownField,
        WrongType,
    };

    /// Every kind, every operator, a chain (diet -> diet_other -> diet_detail), over two pages.
    const FORM_JSON: &str = r#"{
      "id": "01890a5d-ac96-774b-bcce-b302099a8057",
      "version": 7,
      "title": "Walk-in registration",
      "pages": [
        { "id": "you", "title": "About you", "sections": [
          { "id": "identity", "title": "Identity", "fields": [
            { "id": "name", "label": "Full name", "kind": "text", "required": true,
              "validation": { "min": 2, "max": 50 } },
            { "id": "badge", "label": "Member number", "kind": "text",
              "validation": { "pattern": "[A-Z]{2}-[0-9]{4}",
                              "pattern_message": "Two letters, a dash, four digits." } },
            { "id": "bio", "label": "About you", "kind": "multiline" },
            { "id": "email", "label": "Email", "kind": "email", "required": true },
            { "id": "phone", "label": "Phone", "kind": "phone" }
          ]},
          { "id": "details", "title": "Details", "fields": [
            { "id": "age", "label": "Age", "kind": "number",
              "validation": { "min": 0, "max": 120, "integer": true } },
            { "id": "donation", "label": "Donation", "kind": "number",
              "validation": { "min": 0.5, "max": 1000 } },
            { "id": "arrival", "label": "Arrival", "kind": "date",
              "validation": { "min": "2024-01-01", "max": "2024-12-31" } },
            { "id": "country", "label": "Country", "kind": "country" }
          ]}
        ]},
        { "id": "event", "title": "The event", "sections": [
          { "id": "choices", "title": "", "fields": [
            { "id": "ticket", "label": "Ticket", "kind": "single_choice",
              "choices": [ { "id": "day", "label": "Day" }, { "id": "week", "label": "Week" } ] },
            { "id": "days", "label": "Days", "kind": "multiple_choice",
              "validation": { "min": 2, "max": 3 },
              "choices": [ { "id": "mon", "label": "Monday" }, { "id": "tue", "label": "Tuesday" },
                           { "id": "wed", "label": "Wednesday" },
                           { "id": "thu", "label": "Thursday" } ] },
            { "id": "diet", "label": "Diet", "kind": "single_choice",
              "choices": [ { "id": "none", "label": "None" }, { "id": "vegan", "label": "Vegan" },
                           { "id": "other", "label": "Other" } ] },
            { "id": "diet_other", "label": "Which diet?", "kind": "text", "required": true,
              "show_when": { "field": "diet", "op": "equals", "value": "other" } },
            { "id": "diet_detail", "label": "Anything the kitchen must know?", "kind": "text",
              "required": true,
              "show_when": { "field": "diet_other", "op": "is_answered" } }
          ]},
          { "id": "consent", "title": "Consent", "fields": [
            { "id": "consent", "label": "I accept the house rules", "kind": "checkbox",
              "required": true },
            { "id": "newsletter", "label": "Newsletter", "kind": "checkbox" },
            { "id": "news_email", "label": "Newsletter address", "kind": "email",
              "required": true, "show_when": { "field": "newsletter", "op": "checked" } },
            { "id": "visa", "label": "Visa number", "kind": "text",
              "show_when": { "field": "country", "op": "one_of", "value": ["RU", "CN"] } },
            { "id": "not_day", "label": "Hotel", "kind": "text",
              "show_when": { "field": "ticket", "op": "not_equals", "value": "day" } },
            { "id": "mon_note", "label": "Monday note", "kind": "text",
              "show_when": { "field": "days", "op": "equals", "value": "mon" } }
          ]}
        ]}
      ]
    }"#;

    const FIELD_IDS: [&str; 21] = [
        "name",
        "badge",
        "bio",
        "email",
        "phone",
        "age",
        "donation",
        "arrival",
        "country",
        "ticket",
        "days",
        "diet",
        "diet_other",
        "diet_detail",
        "consent",
        "newsletter",
        "news_email",
        "visa",
        "not_day",
        "mon_note",
        "nickname",
    ];

    fn fixture() -> Form {
        serde_json::from_str(FORM_JSON).expect("the fixture parses")
    }

    fn answers(value: Value) -> Answers {
        serde_json::from_value(value).expect("answers are an object")
    }

    /// The smallest valid answer set, plus `extra`.
    fn with(extra: Value) -> Answers {
        let mut all = answers(json!({
            "name": "Ada Lovelace", "email": "ada@example.org", "consent": true
        }));
        all.extend(answers(extra));
        all
    }

    fn validate(extra: Value) -> Result<Answers, Vec<FieldError>> {
        validate_answers(&fixture(), &with(extra))
    }

    fn codes(errors: &[FieldError]) -> Vec<(&str, FieldErrorCode)> {
        errors.iter().map(|e| (e.field.as_str(), e.code)).collect()
    }

    /// A gate asks its questions on their own: each must be answered even where the form leaves
    /// it optional or hides it, a consent must be ticked, and nothing else is taken.
    #[test]
    fn gate_answers_are_required_cleaned_and_limited_to_the_questions_asked() {
        let form = fixture();
        let asked = [
            "consent".to_owned(),
            "diet_other".to_owned(),
            "age".to_owned(),
        ];
        let cleaned = validate_gate_answers(
            &form,
            &asked,
            &answers(json!({"consent": true, "diet_other": "  halal ", "age": "42"})),
        )
        .unwrap();
        assert_eq!(
            cleaned,
            answers(json!({"consent": true, "diet_other": "halal", "age": 42}))
        );

        let errors = validate_gate_answers(
            &form,
            &asked,
            &answers(json!({"consent": false, "age": 300, "name": "Ada"})),
        )
        .unwrap_err();
        assert_eq!(
            codes(&errors),
            [
                ("consent", MustAccept),
                ("diet_other", Required),
                ("age", TooLarge),
                ("name", UnknownField)
            ]
        );

        let errors =
            validate_gate_answers(&form, &["shoe_size".to_owned()], &Answers::new()).unwrap_err();
        assert_eq!(codes(&errors), [("shoe_size", UnknownField)]);
    }

    /// The cleaned answer to `field` when it is answered `value` (next to the minimal answers).
    fn accepted(field: &str, value: Value) -> Option<Value> {
        match validate_answers(&fixture(), &with(json!({}).tap_insert(field, value))) {
            Ok(cleaned) => cleaned.get(field).cloned(),
            Err(errors) => panic!("{field} refused: {errors:#?}"),
        }
    }

    /// The code `field` is refused with when answered `value`; it must be the only error.
    fn refused(field: &str, value: Value) -> FieldErrorCode {
        match validate_answers(&fixture(), &with(json!({}).tap_insert(field, value))) {
            Ok(cleaned) => panic!("{field} accepted: {cleaned:?}"),
            Err(errors) => match codes(&errors)[..] {
                [(f, code)] if f == field => code,
                _ => panic!("expected one error on {field}, got {errors:#?}"),
            },
        }
    }

    trait TapInsert {
        fn tap_insert(self, key: &str, value: Value) -> Self;
    }

    impl TapInsert for Value {
        fn tap_insert(mut self, key: &str, value: Value) -> Self {
            if let Value::Object(map) = &mut self {
                map.insert(key.to_owned(), value);
            }
            self
        }
    }

    fn visible_ids(answers_given: Value) -> Vec<String> {
        let form = fixture();
        let answers_given = answers(answers_given);
        visible_fields(&form, &answers_given)
            .into_iter()
            .map(|field| field.id.clone())
            .collect()
    }

    // --- answers: each kind ------------------------------------------------------------------

    #[test]
    fn minimal_answers_are_accepted() {
        let cleaned = validate(json!({})).expect("valid");
        assert_eq!(cleaned, with(json!({})));
    }

    #[test]
    fn text_is_trimmed_and_bounded_in_characters() {
        assert_eq!(accepted("name", json!("  Ada  ")), Some(json!("Ada")));
        assert_eq!(
            accepted("name", json!("é".repeat(50))),
            Some(json!("é".repeat(50)))
        );
        assert_eq!(refused("name", json!("é".repeat(51))), TooLong);
        assert_eq!(refused("name", json!(" A ")), TooShort);
        assert_eq!(refused("name", json!(42)), WrongType);
        assert_eq!(refused("name", json!(["Ada"])), WrongType);
        assert_eq!(
            refused("badge", json!("x".repeat(MAX_TEXT_LEN + 1))),
            TooLong
        );
    }

    #[test]
    fn multiline_keeps_inner_newlines_and_has_a_larger_cap() {
        assert_eq!(
            accepted("bio", json!("\n line one\nline two \n")),
            Some(json!("line one\nline two"))
        );
        assert!(accepted("bio", json!("x".repeat(MAX_MULTILINE_LEN))).is_some());
        assert_eq!(
            refused("bio", json!("x".repeat(MAX_MULTILINE_LEN + 1))),
            TooLong
        );
    }

    #[test]
    fn pattern_must_match_the_whole_answer() {
        assert_eq!(
            accepted("badge", json!(" AB-1234 ")),
            Some(json!("AB-1234"))
        );
        for bad in ["ab-1234", "AB-123", "xAB-1234", "AB-12345", "AB 1234"] {
            assert_eq!(refused("badge", json!(bad)), Pattern, "{bad:?}");
        }
        let errors = validate(json!({"badge": "nope"})).unwrap_err();
        assert_eq!(errors[0].message, "Two letters, a dash, four digits.");
    }

    #[test]
    fn email() {
        assert_eq!(
            accepted("email", json!(" ada@example.org ")),
            Some(json!("ada@example.org"))
        );
        for good in [
            "a.b+tag@sub.example.co.uk",
            "jürgen@müller.de",
            "x_y@a-b.io",
        ] {
            assert!(accepted("email", json!(good)).is_some(), "{good}");
        }
        let bad = [
            "ada",
            "ada@",
            "@example.org",
            "ada@localhost",
            "a b@example.org",
            "ada@example..org",
            "ada@-example.org",
            "a..b@example.org",
            ".ada@example.org",
            "ada@example.1",
            "ada@exa mple.org",
            "ada@@example.org",
        ];
        for bad in bad {
            assert_eq!(refused("email", json!(bad)), InvalidEmail, "{bad}");
        }
        assert_eq!(refused("email", json!(true)), WrongType);
    }

    #[test]
    fn phone() {
        for good in [
            "+49 30 1234567",
            "(030) 123-4567",
            "030/1234567",
            "+1.555.123.4567",
        ] {
            assert_eq!(accepted("phone", json!(good)), Some(json!(good)), "{good}");
        }
        for bad in [
            "12345",
            "+49 30 1234567890123",
            "call me",
            "49+301234567",
            "++491234567",
        ] {
            assert_eq!(refused("phone", json!(bad)), InvalidPhone, "{bad}");
        }
        assert_eq!(refused("phone", json!(491_234_567)), WrongType);
    }

    #[test]
    fn integer_numbers() {
        assert_eq!(accepted("age", json!(42)), Some(json!(42)));
        assert_eq!(accepted("age", json!(" 42 ")), Some(json!(42)));
        assert_eq!(accepted("age", json!(42.0)), Some(json!(42)));
        assert_eq!(accepted("age", json!("")), None);
        assert_eq!(accepted("age", json!(0)), Some(json!(0)));
        assert_eq!(refused("age", json!(42.5)), InvalidNumber);
        assert_eq!(refused("age", json!("42.5")), InvalidNumber);
        assert_eq!(refused("age", json!("forty")), InvalidNumber);
        assert_eq!(refused("age", json!(-1)), TooSmall);
        assert_eq!(refused("age", json!("121")), TooLarge);
        assert_eq!(refused("age", json!(true)), WrongType);
        assert_eq!(refused("age", json!({"value": 3})), WrongType);
    }

    #[test]
    fn decimal_numbers() {
        assert_eq!(accepted("donation", json!("12.5")), Some(json!(12.5)));
        assert_eq!(accepted("donation", json!("+3.25")), Some(json!(3.25)));
        assert_eq!(accepted("donation", json!("10")), Some(json!(10)));
        assert_eq!(accepted("donation", json!(0.5)), Some(json!(0.5)));
        assert_eq!(accepted("donation", json!(1000)), Some(json!(1000)));
        assert_eq!(refused("donation", json!(0.49)), TooSmall);
        assert_eq!(refused("donation", json!("1000.01")), TooLarge);
        for bad in ["1e3", ".5", "5.", "-", "1,5", "NaN", "inf", "0x10", "1 000"] {
            assert_eq!(refused("donation", json!(bad)), InvalidNumber, "{bad}");
        }
        assert_eq!(refused("donation", json!("9".repeat(41))), InvalidNumber);
    }

    #[test]
    fn dates() {
        assert_eq!(
            accepted("arrival", json!(" 2024-02-29 ")),
            Some(json!("2024-02-29"))
        );
        assert_eq!(
            accepted("arrival", json!("2024-12-31")),
            Some(json!("2024-12-31"))
        );
        for bad in [
            "2024-02-30",
            "2024-04-31",
            "2024-13-01",
            "2024-00-10",
            "2024-4-01",
        ] {
            assert_eq!(refused("arrival", json!(bad)), InvalidDate, "{bad}");
        }
        for bad in [
            "24-04-01",
            "2024/04/01",
            "01.04.2024",
            "2024-04-01T10:00",
            "tomorrow",
        ] {
            assert_eq!(refused("arrival", json!(bad)), InvalidDate, "{bad}");
        }
        assert_eq!(refused("arrival", json!("2023-12-31")), TooSmall);
        assert_eq!(refused("arrival", json!("2025-01-01")), TooLarge);
        assert_eq!(refused("arrival", json!(20_240_101)), WrongType);
    }

    #[test]
    fn calendar_rules_are_real() {
        let real = |s: &str| parse_date(s).is_some();
        assert!(real("2000-02-29"), "divisible by 400: leap");
        assert!(real("2024-02-29"), "divisible by 4: leap");
        assert!(!real("1900-02-29"), "century: not leap");
        assert!(!real("2100-02-29"), "century: not leap");
        assert!(!real("2023-02-29"), "not divisible by 4");
        assert!(real("2400-02-29"));
        assert!(real("0001-01-01") && real("9999-12-31"));
        assert!(!real("0000-01-01"));
        for (month, days) in [(1, 31), (4, 30), (6, 30), (9, 30), (11, 30), (12, 31)] {
            assert!(real(&format!("2023-{month:02}-{days}")));
            assert!(!real(&format!("2023-{month:02}-{}", days + 1)));
        }
        assert!(!real("２０２４-01-01"), "only ASCII digits");
        assert!(!real("2024-01-01 "));
    }

    #[test]
    fn single_choice() {
        assert_eq!(accepted("ticket", json!("day")), Some(json!("day")));
        assert_eq!(accepted("ticket", json!(" week ")), Some(json!("week")));
        assert_eq!(refused("ticket", json!("month")), InvalidChoice);
        assert_eq!(refused("ticket", json!("DAY")), InvalidChoice);
        assert_eq!(refused("ticket", json!(["day"])), WrongType);
    }

    #[test]
    fn multiple_choice() {
        assert_eq!(
            accepted("days", json!(["mon", "tue"])),
            Some(json!(["mon", "tue"]))
        );
        assert_eq!(
            accepted("days", json!(["wed", "mon", "wed"])),
            Some(json!(["mon", "wed"])),
            "once each, in the form's order"
        );
        assert_eq!(accepted("days", json!([])), None);
        assert_eq!(refused("days", json!(["mon"])), TooShort);
        assert_eq!(
            refused("days", json!(["mon", "tue", "wed", "thu"])),
            TooLong
        );
        assert_eq!(refused("days", json!(["mon", "fri"])), InvalidChoice);
        assert_eq!(refused("days", json!("mon")), WrongType);
        assert_eq!(refused("days", json!(["mon", 2])), WrongType);
        assert_eq!(
            refused("days", json!(vec!["mon"; MAX_CHOICES + 1])),
            TooLong
        );
    }

    #[test]
    fn checkbox_and_consent() {
        let cleaned = validate(json!({"newsletter": true, "news_email": "a@b.io"})).unwrap();
        assert_eq!(cleaned["newsletter"], true);
        assert_eq!(accepted("newsletter", json!(false)), Some(json!(false)));
        assert_eq!(refused("newsletter", json!("yes")), WrongType);
        assert_eq!(refused("consent", json!(false)), MustAccept);
        assert_eq!(refused("consent", json!(null)), MustAccept);
        assert_eq!(refused("consent", json!(1)), WrongType);
        let mut missing = with(json!({}));
        missing.remove("consent");
        let errors = validate_answers(&fixture(), &missing).unwrap_err();
        assert_eq!(codes(&errors), [("consent", MustAccept)]);
    }

    #[test]
    fn country() {
        assert_eq!(accepted("country", json!("DE")), Some(json!("DE")));
        assert_eq!(accepted("country", json!(" us ")), Some(json!("US")));
        for bad in ["XX", "DEU", "XK", "D", "Deutschland", "ÜS"] {
            assert_eq!(refused("country", json!(bad)), InvalidCountry, "{bad}");
        }
        assert_eq!(refused("country", json!(276)), WrongType);
    }

    #[test]
    fn country_codes_are_sorted_unique_and_well_formed() {
        assert_eq!(COUNTRY_CODES.len(), 249);
        assert!(COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(
            COUNTRY_CODES
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
        assert!(is_country_code("SS") && is_country_code("AX") && is_country_code("ZW"));
        assert!(!is_country_code("de") && !is_country_code("") && !is_country_code("UK"));
    }

    // --- answers: required, unknown keys, all errors -----------------------------------------

    #[test]
    fn required_fields_need_a_real_answer() {
        for empty in [json!(null), json!(""), json!("   ")] {
            let errors = validate(json!({ "name": empty })).unwrap_err();
            assert_eq!(codes(&errors), [("name", Required)]);
            assert_eq!(errors[0].message, "This field is required.");
        }
        let mut missing = with(json!({}));
        missing.remove("email");
        let errors = validate_answers(&fixture(), &missing).unwrap_err();
        assert_eq!(codes(&errors), [("email", Required)]);
    }

    #[test]
    fn optional_fields_may_be_left_empty() {
        let cleaned = validate(json!({
            "badge": "", "bio": "  ", "phone": null, "age": "", "days": [], "country": ""
        }))
        .expect("empty optional answers are fine");
        assert_eq!(cleaned, with(json!({})), "and they are not kept");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let errors = validate(json!({"nickname": "Ada", "name": "Ada"})).unwrap_err();
        assert_eq!(codes(&errors), [("nickname", UnknownField)]);
        assert!(errors[0].message.contains("`nickname`"));
    }

    #[test]
    fn every_problem_is_reported_in_form_order() {
        let errors = validate(json!({
            "consent": false, "age": 500, "email": "x", "name": "", "zzz": 1
        }))
        .unwrap_err();
        assert_eq!(
            codes(&errors),
            [
                ("name", Required),
                ("email", InvalidEmail),
                ("age", TooLarge),
                ("consent", MustAccept),
                ("zzz", UnknownField),
            ]
        );
    }

    #[test]
    fn field_errors_serialize_with_snake_case_codes() {
        let error = FieldError {
            field: "name".into(),
            code: TooShort,
            message: "Must be at least 2 characters.".into(),
        };
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({
                "field": "name", "code": "too_short", "message": "Must be at least 2 characters."
            })
        );
        assert_eq!(error.to_string(), "name: Must be at least 2 characters.");
    }

    #[test]
    fn error_codes_match_their_wire_names() {
        let all = [
            Required,
            TooShort,
            TooLong,
            TooSmall,
            TooLarge,
            Pattern,
            InvalidEmail,
            InvalidPhone,
            InvalidNumber,
            InvalidDate,
            InvalidChoice,
            InvalidCountry,
            MustAccept,
            UnknownField,
            WrongType,
        ];
        for code in all {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
    }

    // --- answers: conditions -----------------------------------------------------------------

    #[test]
    fn shown_field_is_checked_and_kept() {
        let errors = validate(json!({"diet": "other"})).unwrap_err();
        assert_eq!(codes(&errors), [("diet_other", Required)]);
        let cleaned = validate(json!({
            "diet": "other", "diet_other": " halal ", "diet_detail": "no pork"
        }))
        .expect("valid");
        assert_eq!(cleaned["diet_other"], "halal");
        assert_eq!(cleaned["diet_detail"], "no pork");
    }

    #[test]
    fn hidden_field_is_neither_required_nor_kept() {
        let cleaned = validate(json!({"diet": "vegan", "diet_other": 42})).expect("valid");
        assert!(
            !cleaned.contains_key("diet_other"),
            "dropped, not even type-checked"
        );
        assert_eq!(cleaned["diet"], "vegan");
        let cleaned = validate(json!({"diet_other": "halal"})).expect("valid");
        assert!(
            !cleaned.contains_key("diet_other"),
            "unanswered controller hides it"
        );
    }

    #[test]
    fn conditions_chain() {
        // diet_detail depends on diet_other, which depends on diet.
        let errors = validate(json!({"diet": "other", "diet_other": "halal"})).unwrap_err();
        assert_eq!(codes(&errors), [("diet_detail", Required)]);
        let cleaned = validate(json!({"diet": "none", "diet_other": "x", "diet_detail": "y"}))
            .expect("whole chain hidden");
        assert!(!cleaned.contains_key("diet_detail"));
        // A refused controlling answer counts as no answer: only its own error is reported.
        let errors = validate(json!({"diet": "other", "diet_other": 5})).unwrap_err();
        assert_eq!(codes(&errors), [("diet_other", WrongType)]);
    }

    #[test]
    fn checked_condition() {
        let errors = validate(json!({"newsletter": true})).unwrap_err();
        assert_eq!(codes(&errors), [("news_email", Required)]);
        let cleaned = validate(json!({"newsletter": false, "news_email": "bad"})).expect("hidden");
        assert!(!cleaned.contains_key("news_email"));
    }

    #[test]
    fn one_of_condition_sees_cleaned_answers() {
        let visible = visible_ids(json!({"country": "ru"}));
        assert!(visible.contains(&"visa".to_owned()), "ru is cleaned to RU");
        assert!(!visible_ids(json!({"country": "DE"})).contains(&"visa".to_owned()));
        assert!(!visible_ids(json!({"country": "??"})).contains(&"visa".to_owned()));
    }

    #[test]
    fn not_equals_needs_an_answer() {
        assert!(visible_ids(json!({"ticket": "week"})).contains(&"not_day".to_owned()));
        assert!(!visible_ids(json!({"ticket": "day"})).contains(&"not_day".to_owned()));
        assert!(!visible_ids(json!({})).contains(&"not_day".to_owned()));
    }

    #[test]
    fn equals_on_a_multiple_choice_means_ticked() {
        assert!(visible_ids(json!({"days": ["tue", "mon"]})).contains(&"mon_note".to_owned()));
        assert!(!visible_ids(json!({"days": ["tue", "wed"]})).contains(&"mon_note".to_owned()));
    }

    #[test]
    fn visible_fields_lists_shown_fields_in_order() {
        let all_unconditional = [
            "name",
            "badge",
            "bio",
            "email",
            "phone",
            "age",
            "donation",
            "arrival",
            "country",
            "ticket",
            "days",
            "diet",
            "consent",
            "newsletter",
        ];
        assert_eq!(visible_ids(json!({})), all_unconditional);
        let visible = visible_ids(json!({
            "diet": "other", "diet_other": "halal", "newsletter": true, "unknown": 1
        }));
        let expected_extra = ["diet_other", "diet_detail", "news_email"];
        assert_eq!(
            visible.len(),
            all_unconditional.len() + expected_extra.len()
        );
        assert!(
            expected_extra
                .iter()
                .all(|id| visible.contains(&(*id).to_owned()))
        );
        assert_eq!(visible[12], "diet_other", "display order");
    }

    // --- definitions -------------------------------------------------------------------------

    fn definition_errors(form: &Form) -> Vec<DefinitionError> {
        validate_definition(form).err().unwrap_or_default()
    }

    #[track_caller]
    fn assert_error(form: &Form, path: &str, needle: &str) {
        let errors = definition_errors(form);
        assert!(
            errors
                .iter()
                .any(|e| e.path == path && e.message.contains(needle)),
            "no error at {path} containing {needle:?}; got {errors:#?}"
        );
    }

    fn field_mut<'a>(form: &'a mut Form, id: &str) -> &'a mut Field {
        form.pages
            .iter_mut()
            .flat_map(|page| &mut page.sections)
            .flat_map(|section| &mut section.fields)
            .find(|field| field.id == id)
            .expect("a fixture field")
    }

    fn mutated(id: &str, change: impl FnOnce(&mut Field)) -> Form {
        let mut form = fixture();
        change(field_mut(&mut form, id));
        form
    }

    fn number(n: impl Into<Number>) -> Option<Bound> {
        Some(Bound::Number(n.into()))
    }

    fn date(s: &str) -> Option<Bound> {
        Some(Bound::Date(s.to_owned()))
    }

    fn condition(field: &str, op: Operator) -> Option<Condition> {
        Some(Condition {
            field: field.to_owned(),
            op,
        })
    }

    const NAME: &str = "pages[0].sections[0].fields[0]";
    const BADGE: &str = "pages[0].sections[0].fields[1]";
    const BIO: &str = "pages[0].sections[0].fields[2]";
    const AGE: &str = "pages[0].sections[1].fields[0]";
    const DONATION: &str = "pages[0].sections[1].fields[1]";
    const ARRIVAL: &str = "pages[0].sections[1].fields[2]";
    const TICKET: &str = "pages[1].sections[0].fields[0]";
    const DAYS: &str = "pages[1].sections[0].fields[1]";
    const DIET: &str = "pages[1].sections[0].fields[2]";
    const DIET_OTHER: &str = "pages[1].sections[0].fields[3]";
    const CONSENT: &str = "pages[1].sections[1].fields[0]";
    const VISA: &str = "pages[1].sections[1].fields[3]";

    #[test]
    fn fixture_is_valid() {
        assert_eq!(validate_definition(&fixture()), Ok(()));
    }

    #[test]
    fn duplicate_ids() {
        let form = mutated("badge", |f| f.id = "name".into());
        assert_error(
            &form,
            &format!("{BADGE}.id"),
            &format!("duplicate field id `name`, first used at {NAME}"),
        );
        let mut form = fixture();
        form.pages[1].sections[0].id = "identity".into();
        form.pages[1].id = "you".into();
        assert_error(
            &form,
            "pages[1].sections[0].id",
            "duplicate section id `identity`",
        );
        assert_error(&form, "pages[1].id", "duplicate page id `you`");
    }

    #[test]
    fn bad_ids() {
        let cases = [
            ("Full Name", "may contain only a-z, 0-9 and _"),
            ("e-mail", "may contain only a-z, 0-9 and _"),
            ("", "must not be empty"),
            (&"a".repeat(65), "longer than 64"),
        ];
        for (id, needle) in cases {
            let form = mutated("name", |f| f.id = id.to_owned());
            assert_error(&form, &format!("{NAME}.id"), needle);
        }
        let mut form = fixture();
        form.pages[1].id = "Event!".into();
        assert_error(&form, "pages[1].id", "page id `Event!` may contain only");
        let form = mutated("ticket", |f| f.choices[0].id = "Day pass".into());
        assert_error(&form, &format!("{TICKET}.choices[0].id"), "choice id");
    }

    #[test]
    fn choices_are_checked() {
        let form = mutated("ticket", |f| f.choices.clear());
        assert_error(
            &form,
            &format!("{TICKET}.choices"),
            "needs at least one choice",
        );
        let form = mutated("ticket", |f| f.choices[1].id = "day".into());
        assert_error(
            &form,
            &format!("{TICKET}.choices[1].id"),
            "duplicate choice id `day`",
        );
        let form = mutated("ticket", |f| f.choices[1].label = " ".into());
        assert_error(
            &form,
            &format!("{TICKET}.choices[1].label"),
            "must not be empty",
        );
        let form = mutated("name", |f| {
            f.choices.push(Choice {
                id: "x".into(),
                label: "X".into(),
            });
        });
        assert_error(
            &form,
            &format!("{NAME}.choices"),
            "text fields have no choices",
        );
    }

    #[test]
    fn min_greater_than_max() {
        let form = mutated("name", |f| f.validation.min = number(60));
        assert_error(
            &form,
            &format!("{NAME}.validation"),
            "min (60) is greater than max (50)",
        );
        let form = mutated("donation", |f| f.validation.min = number(2000));
        let path = format!("{DONATION}.validation");
        assert_error(&form, &path, "min (2000) is greater than max (1000)");
        let form = mutated("arrival", |f| f.validation.min = date("2025-01-01"));
        let path = format!("{ARRIVAL}.validation");
        assert_error(
            &form,
            &path,
            "min (2025-01-01) is greater than max (2024-12-31)",
        );
        let form = mutated("days", |f| f.validation.min = number(4));
        assert_error(
            &form,
            &format!("{DAYS}.validation"),
            "min (4) is greater than max (3)",
        );
    }

    #[test]
    fn bounds_must_fit_the_kind() {
        let form = mutated("name", |f| f.validation.min = number(-1));
        assert_error(
            &form,
            &format!("{NAME}.validation.min"),
            "whole number of characters",
        );
        let form = mutated("age", |f| f.validation.max = date("100"));
        assert_error(&form, &format!("{AGE}.validation.max"), "must be a number");
        let form = mutated("arrival", |f| f.validation.min = date("2024-02-30"));
        assert_error(&form, &format!("{ARRIVAL}.validation.min"), "a real date");
        let form = mutated("arrival", |f| f.validation.max = number(2024));
        assert_error(&form, &format!("{ARRIVAL}.validation.max"), "a real date");
        let form = mutated("bio", |f| f.validation.max = number(20_000));
        let needle = "over the limit of 10000 characters for multiline fields";
        assert_error(&form, &format!("{BIO}.validation.max"), needle);
        let form = mutated("days", |f| {
            f.validation = Validation {
                min: number(5),
                ..Validation::default()
            }
        });
        assert_error(
            &form,
            &format!("{DAYS}.validation.min"),
            "more than the 4 choices",
        );
        let form = mutated("consent", |f| f.validation.min = number(1));
        let needle = "min and max do not apply to checkbox fields";
        assert_error(&form, &format!("{CONSENT}.validation"), needle);
        let form = mutated("name", |f| f.validation.integer = true);
        assert_error(
            &form,
            &format!("{NAME}.validation.integer"),
            "only number fields",
        );
    }

    #[test]
    fn patterns_are_checked() {
        let path = format!("{BADGE}.validation.pattern");
        for bad in ["[A-Z", "a)(b", "(?<name", "x{2,1}"] {
            let form = mutated("badge", |f| f.validation.pattern = Some(bad.into()));
            assert_error(&form, &path, "invalid regular expression");
        }
        let form = mutated("badge", |f| {
            f.validation.pattern = Some(r"(?:\w{100}){100}".into())
        });
        assert_error(&form, &path, "too complex");
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        let form = mutated("badge", |f| f.validation.pattern = Some(long));
        assert_error(&form, &path, "at most 500 bytes");
        let form = mutated("age", |f| f.validation.pattern = Some("[0-9]+".into()));
        assert_error(
            &form,
            &format!("{AGE}.validation.pattern"),
            "not to number fields",
        );
        let form = mutated("name", |f| {
            f.validation.pattern_message = Some("Hint".into())
        });
        assert_error(
            &form,
            &format!("{NAME}.validation.pattern_message"),
            "needs a pattern",
        );
    }

    #[test]
    fn conditions_must_refer_to_earlier_known_fields() {
        let equals_x = || Operator::Equals(json!("x"));
        let form = mutated("diet_other", |f| {
            f.show_when = condition("dite", equals_x())
        });
        let path = format!("{DIET_OTHER}.show_when");
        assert_error(&form, &path, "refers to unknown field `dite`");
        let form = mutated("diet", |f| {
            f.show_when = condition("diet_other", equals_x())
        });
        assert_error(
            &form,
            &format!("{DIET}.show_when"),
            "comes later in the form",
        );
        let form = mutated("diet", |f| {
            f.show_when = condition("diet", Operator::IsAnswered)
        });
        assert_error(&form, &format!("{DIET}.show_when"), "depends on itself");
    }

    #[test]
    fn condition_values_must_be_possible_answers() {
        let path = format!("{DIET_OTHER}.show_when");
        let on_diet = |op| mutated("diet_other", |f| f.show_when = condition("diet", op));
        let form = on_diet(Operator::Equals(json!("halal")));
        let needle = "`halal` is not a choice of field `diet`";
        assert_error(&form, &format!("{path}.value"), needle);
        let form = on_diet(Operator::OneOf(vec![json!("vegan"), json!("meat")]));
        assert_error(&form, &format!("{path}.value[1]"), "`meat` is not a choice");
        let form = on_diet(Operator::OneOf(vec![]));
        assert_error(&form, &format!("{path}.value"), "at least one value");
        let form = on_diet(Operator::NotEquals(json!(2)));
        assert_error(
            &form,
            &format!("{path}.value"),
            "compares with a choice id, not 2",
        );
        let form = on_diet(Operator::Checked);
        assert_error(
            &form,
            &format!("{path}.op"),
            "applies only to checkbox fields",
        );
        let values = vec![json!("RU"), json!("cn")];
        let form = mutated("visa", |f| {
            f.show_when = condition("country", Operator::OneOf(values))
        });
        let needle = "`cn` is not an upper-case ISO 3166-1 alpha-2 code";
        assert_error(&form, &format!("{VISA}.show_when.value[1]"), needle);
        let form = mutated("visa", |f| {
            f.show_when = condition("age", Operator::Equals(json!("18")));
        });
        assert_error(
            &form,
            &format!("{VISA}.show_when.value"),
            "compares with a number",
        );
    }

    #[test]
    fn labels_and_titles_are_bounded() {
        let form = mutated("name", |f| f.label = "x".repeat(MAX_LABEL_LEN + 1));
        assert_error(&form, &format!("{NAME}.label"), "at most 300 characters");
        let form = mutated("name", |f| f.label = "  ".into());
        assert_error(&form, &format!("{NAME}.label"), "must not be empty");
        let form = mutated("name", |f| f.help = Some("x".repeat(MAX_HELP_LEN + 1)));
        assert_error(&form, &format!("{NAME}.help"), "at most 2000 characters");
        let mut form = fixture();
        form.title = String::new();
        assert_error(&form, "title", "must not be empty");
        let long = "x".repeat(MAX_LABEL_LEN + 1);
        form.pages[0].sections[1].title.clone_from(&long);
        assert_error(
            &form,
            "pages[0].sections[1].title",
            "at most 300 characters",
        );
    }

    #[test]
    fn sizes_are_bounded_and_checked_first() {
        let mut form = fixture();
        let template = form.pages[0].sections[0].fields[0].clone();
        // Duplicate ids everywhere: still only the size is reported.
        form.pages[0].sections[0].fields = vec![template; MAX_FIELDS + 1];
        let errors = definition_errors(&form);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].path, "pages");
        assert!(errors[0].message.contains("516 fields; at most 500"));

        let mut form = fixture();
        let page = form.pages[0].clone();
        form.pages = vec![page; MAX_PAGES + 1];
        assert_error(&form, "pages", "51 pages; at most 50");

        let mut form = fixture();
        let mut section = form.pages[0].sections[1].clone();
        section.fields.clear();
        form.pages[0].sections = vec![section; MAX_SECTIONS];
        assert_error(&form, "pages", "202 sections; at most 200");

        let choices = (0..=MAX_CHOICES)
            .map(|i| Choice {
                id: format!("c{i}"),
                label: format!("Choice {i}"),
            })
            .collect();
        let form = mutated("ticket", |f| f.choices = choices);
        assert_error(
            &form,
            &format!("{TICKET}.choices"),
            "201 choices; at most 200",
        );
    }

    #[test]
    fn every_definition_problem_is_reported_at_once() {
        let mut form = fixture();
        field_mut(&mut form, "badge").id = "name".into();
        field_mut(&mut form, "ticket").choices.clear();
        field_mut(&mut form, "age").validation.min = number(500);
        field_mut(&mut form, "visa").show_when = condition("nowhere", Operator::IsAnswered);
        let errors = definition_errors(&form);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                format!("{BADGE}.id"),
                format!("{AGE}.validation"),
                format!("{TICKET}.choices"),
                format!("{VISA}.show_when"),
                // Follows from the cleared choices: `not_day` tests `ticket` for "day".
                "pages[1].sections[1].fields[4].show_when.value".to_owned(),
            ]
        );
        assert!(
            errors[0]
                .to_string()
                .starts_with("pages[0].sections[0].fields[1].id: ")
        );
    }

    #[test]
    fn hostile_ids_are_cut_short_in_messages() {
        let form = mutated("name", |f| f.id = "X".repeat(100_000));
        let errors = definition_errors(&form);
        assert!(errors.iter().all(|e| e.message.len() < 200), "{errors:#?}");
    }

    // --- serde -------------------------------------------------------------------------------

    #[test]
    fn definitions_round_trip() {
        let form = fixture();
        let json = serde_json::to_value(&form).unwrap();
        assert_eq!(serde_json::from_value::<Form>(json.clone()).unwrap(), form);
        let original: Value = serde_json::from_str(FORM_JSON).unwrap();
        assert_eq!(
            json, original,
            "defaults are left out, so the stored form is unchanged"
        );
        assert_eq!(form.form_ref().version, 7);
        assert_eq!(
            form.field("diet").map(|f| f.kind),
            Some(FieldKind::SingleChoice)
        );
        assert_eq!(form.fields().count(), 20);
    }

    #[test]
    fn wire_names_are_snake_case() {
        let kinds = [
            FieldKind::Text,
            FieldKind::Multiline,
            FieldKind::Email,
            FieldKind::Phone,
            FieldKind::Number,
            FieldKind::Date,
            FieldKind::SingleChoice,
            FieldKind::MultipleChoice,
            FieldKind::Checkbox,
            FieldKind::Country,
        ];
        for kind in kinds {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
        assert_eq!(FieldKind::MultipleChoice.as_str(), "multiple_choice");
        let slider = FORM_JSON.replacen(r#""kind": "text""#, r#""kind": "slider""#, 1);
        assert!(serde_json::from_str::<Form>(&slider).is_err());
    }

    #[test]
    fn conditions_on_the_wire() {
        let cases = [
            (
                Operator::Equals(json!("other")),
                json!({"field": "f", "op": "equals", "value": "other"}),
            ),
            (
                Operator::NotEquals(json!(3)),
                json!({"field": "f", "op": "not_equals", "value": 3}),
            ),
            (
                Operator::OneOf(vec![json!("a"), json!("b")]),
                json!({"field": "f", "op": "one_of", "value": ["a", "b"]}),
            ),
            (
                Operator::IsAnswered,
                json!({"field": "f", "op": "is_answered"}),
            ),
            (Operator::Checked, json!({"field": "f", "op": "checked"})),
        ];
        for (op, wire) in cases {
            let condition = Condition {
                field: "f".into(),
                op,
            };
            assert_eq!(serde_json::to_value(&condition).unwrap(), wire);
            assert_eq!(
                serde_json::from_value::<Condition>(wire).unwrap(),
                condition
            );
        }
        let bad = json!({"field": "f", "op": "contains", "value": "x"});
        assert!(serde_json::from_value::<Condition>(bad).is_err());
    }

    // --- properties --------------------------------------------------------------------------

    fn any_json() -> impl Strategy<Value = Value> {
        let samples = vec![
            "other",
            "vegan",
            "mon",
            "tue",
            "day",
            "DE",
            "ru",
            "2024-02-29",
            " 12 ",
            "0.5",
            "ada@example.org",
            "+49 30 1234567",
            "AB-1234",
            "",
            " ",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            prop::sample::select(samples).prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{0,4}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn any_key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(FIELD_IDS.to_vec()).prop_map(str::to_owned),
            1 => "\\PC{0,8}",
        ]
    }

    proptest! {
        #[test]
        fn validate_answers_never_panics(
            given in prop::collection::btree_map(any_key(), any_json(), 0..16)
        ) {
            let form = fixture();
            let visible: HashSet<&str> =
                visible_fields(&form, &given).iter().map(|f| f.id.as_str()).collect();
            match validate_answers(&form, &given) {
                Ok(cleaned) => {
                    prop_assert!(cleaned.keys().all(|k| visible.contains(k.as_str())));
                    prop_assert_eq!(validate_answers(&form, &cleaned), Ok(cleaned.clone()));
                }
                Err(errors) => prop_assert!(!errors.is_empty()),
            }
        }
    }
}
