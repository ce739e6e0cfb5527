//! Finding a guest without a badge: by name, email or part of the ticket code, offline, as the
//! volunteer types.
//!
//! [`GuestIndex`] lives in memory only. The store builds it from its sealed rows the first time a
//! search runs after an unlock or a change of the guest list, and drops it with itself at lock:
//! nothing searchable is ever written to disk (docs/security.md).
//!
//! Matching: the query is cut into words and folded ([`fold`]: lower case, accents and
//! punctuation dropped). Every word must match the guest somewhere, or the guest is not a hit:
//! a word of the name it equals or begins, the email it begins or contains, or (from
//! [`MIN_CODE_PART`] characters on) the ticket code it equals or is part of. A word matching
//! inside a name word counts too, from three characters ("mit" finds "Schmitt"); a word with
//! an apostrophe or hyphen needs each of its parts ("jean-luc"), and one typed without them is
//! found in the name written together ("obrien" finds "O'Brien").
//!
//! Ranking: each query word scores its best match (a whole name word or the whole code above a
//! beginning, a beginning above a part); hits sort by total score, then by name, so "anna" puts
//! every Anna before Annabel and Hannah, and the same query always gives the same order.

use sync_protocol::ids::{AttendeeId, TicketId, TicketTypeId};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Shortest query word matched against the inside of a ticket code.
pub const MIN_CODE_PART: usize = 4;
/// Shortest query word matched against the inside of a name word.
const MIN_NAME_PART: usize = 3;
/// Longest code kept in the index: longer codes (signed `GP1:` codes) are scanned, not typed.
const MAX_INDEXED_CODE: usize = 64;

/// One ticket as a search shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    pub ticket_id: TicketId,
    pub attendee_id: AttendeeId,
    pub ticket_type_id: TicketTypeId,
    /// First and last name, as the package holds them.
    pub name: String,
    pub email: Option<String>,
}

impl Guest {
    /// The guest holding `ticket`.
    pub fn of(
        attendee: &sync_protocol::model::Attendee,
        ticket: &sync_protocol::model::Ticket,
    ) -> Guest {
        Guest {
            ticket_id: ticket.id,
            attendee_id: attendee.id,
            ticket_type_id: ticket.ticket_type_id,
            name: format!("{} {}", attendee.first_name, attendee.last_name),
            email: attendee.email.clone(),
        }
    }
}

/// A guest as the index holds it: the display fields and their folded forms.
struct Entry {
    guest: Guest,
    /// The folded name: the order of hits with the same score.
    sort_name: Box<str>,
    /// The folded name without spaces ("seanobrien"), for names typed without their apostrophe
    /// or hyphen.
    compact_name: Box<str>,
    name_words: Vec<Box<str>>,
    email: Box<str>,
    code: Box<str>,
}

impl Entry {
    fn new(guest: Guest, code: &str) -> Entry {
        let sort_name = fold(&guest.name);
        let name_words = sort_name
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(Box::from)
            .collect();
        let email = guest
            .email
            .as_deref()
            .map(|e| e.trim().to_lowercase())
            .unwrap_or_default()
            .into_boxed_str();
        let code = if code.len() <= MAX_INDEXED_CODE {
            fold_code(code)
        } else {
            String::new()
        }
        .into_boxed_str();
        Entry {
            guest,
            compact_name: sort_name.replace(' ', "").into_boxed_str(),
            sort_name: sort_name.into_boxed_str(),
            name_words,
            email,
            code,
        }
    }
}

/// One guest folded for the index, ready to be gathered by [`GuestIndex::from_prepared`].
pub struct Prepared(Entry);

impl Prepared {
    pub fn new(guest: Guest, code: &str) -> Prepared {
        Prepared(Entry::new(guest, code))
    }
}

/// Every ticket of the store, searchable in memory.
#[derive(Default)]
pub struct GuestIndex {
    entries: Vec<Entry>,
}

/// One search's answer: the best hits, and how many guests matched in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hits<'a> {
    pub best: Vec<&'a Guest>,
    pub total: usize,
}

impl GuestIndex {
    /// An index of `guests`, each with its ticket code.
    pub fn new<'c>(guests: impl IntoIterator<Item = (Guest, &'c str)>) -> GuestIndex {
        GuestIndex {
            entries: guests
                .into_iter()
                .map(|(guest, code)| Entry::new(guest, code))
                .collect(),
        }
    }

    /// An index of guests prepared with [`Prepared::new`] (on several threads, say).
    pub fn from_prepared(prepared: Vec<Prepared>) -> GuestIndex {
        GuestIndex {
            entries: prepared.into_iter().map(|p| p.0).collect(),
        }
    }

    /// Adds a guest (a walk-in registered here or pulled), or replaces the one with their ticket.
    pub fn upsert(&mut self, guest: Guest, code: &str) {
        let entry = Entry::new(guest, code);
        match self
            .entries
            .iter_mut()
            .find(|e| e.guest.ticket_id == entry.guest.ticket_id)
        {
            Some(held) => *held = entry,
            None => self.entries.push(entry),
        }
    }

    /// How many tickets the index holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index holds no ticket.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `limit` best guests for `query`, best first (see the module doc). A query with no
    /// word in it finds nobody.
    pub fn search(&self, query: &str, limit: usize) -> Hits<'_> {
        let words = query_words(query);
        if words.is_empty() {
            return Hits {
                best: Vec::new(),
                total: 0,
            };
        }
        let mut scored: Vec<(u32, &Entry)> = self
            .entries
            .iter()
            .filter_map(|entry| score(entry, &words).map(|s| (s, entry)))
            .collect();
        let total = scored.len();
        // Best score first, then by name: only the first `limit` are put in order (a one-letter
        // query matches nearly everyone, and sorting them all would cost more than finding them).
        let order = |a: &(u32, &Entry), b: &(u32, &Entry)| {
            b.0.cmp(&a.0)
                .then_with(|| a.1.sort_name.cmp(&b.1.sort_name))
                .then_with(|| a.1.guest.ticket_id.cmp(&b.1.guest.ticket_id))
        };
        if scored.len() > limit && limit > 0 {
            scored.select_nth_unstable_by(limit - 1, order);
        }
        scored.truncate(limit);
        scored.sort_unstable_by(order);
        Hits {
            best: scored.into_iter().map(|(_, e)| &e.guest).collect(),
            total,
        }
    }
}

/// The query's words, folded; email-like words keep their `@` and dots.
struct QueryWord {
    /// Folded as a name is: "O'Brien" is two parts, "o" and "brien", as in the names.
    parts: Vec<String>,
    /// Lower case, as typed (for emails).
    raw: String,
    /// Folded as a code is.
    code: String,
}

fn query_words(query: &str) -> Vec<QueryWord> {
    query
        .split_whitespace()
        .filter_map(|raw| {
            let word = QueryWord {
                parts: fold(raw)
                    .split(' ')
                    .filter(|p| !p.is_empty())
                    .map(String::from)
                    .collect(),
                raw: raw.to_lowercase(),
                code: fold_code(raw),
            };
            (!word.parts.is_empty() || !word.raw.is_empty()).then_some(word)
        })
        .collect()
}

/// The entry's score for every word, or `None` when a word matches nothing.
fn score(entry: &Entry, words: &[QueryWord]) -> Option<u32> {
    let mut total = 0;
    for word in words {
        total += best_match(entry, word)?;
    }
    Some(total)
}

/// How well `part` matches the best of the entry's name words (0: not at all).
fn name_score(entry: &Entry, part: &str) -> u32 {
    let mut best = 0;
    for name_word in &entry.name_words {
        let s = if **name_word == *part {
            8
        } else if name_word.starts_with(part) {
            5
        } else if part.len() >= MIN_NAME_PART && name_word.contains(part) {
            2
        } else {
            0
        };
        best = best.max(s);
    }
    best
}

fn best_match(entry: &Entry, word: &QueryWord) -> Option<u32> {
    // In the name, every part of the word must match ("jean-luc" needs "jean" and "luc"), and
    // the word scores as its weakest part.
    let mut best = word
        .parts
        .iter()
        .map(|part| name_score(entry, part))
        .min()
        .unwrap_or(0);
    if best == 0 {
        let joined = word.parts.concat();
        if joined.len() >= MIN_NAME_PART && entry.compact_name.contains(joined.as_str()) {
            best = 2;
        }
    }
    if !entry.email.is_empty() {
        let s = if *entry.email == *word.raw {
            8
        } else if entry.email.starts_with(word.raw.as_str()) {
            4
        } else if word.raw.len() >= MIN_NAME_PART && entry.email.contains(word.raw.as_str()) {
            1
        } else {
            0
        };
        best = best.max(s);
    }
    if !entry.code.is_empty() && !word.code.is_empty() {
        let s = if *entry.code == *word.code {
            10
        } else if word.code.len() >= MIN_CODE_PART && entry.code.contains(word.code.as_str()) {
            3
        } else {
            0
        };
        best = best.max(s);
    }
    (best > 0).then_some(best)
}

/// Text folded for matching: lower case, accents removed ("Zoë" -> "zoe", "Ørsted" stays
/// "ørsted"), every run of other characters than letters and digits one space.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

/// A code folded for matching: letters and digits only, lower case ("AB-12 cd" -> "ab12cd").
fn fold_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use sync_protocol::UnixMillis;

    fn guest(rng: &mut ChaCha20Rng, name: &str, email: Option<&str>) -> Guest {
        let t = UnixMillis(1_800_000_000_000);
        Guest {
            ticket_id: TicketId::new(t, rng),
            attendee_id: AttendeeId::new(t, rng),
            ticket_type_id: TicketTypeId::new(t, rng),
            name: name.into(),
            email: email.map(Into::into),
        }
    }

    fn index(people: &[(&str, Option<&str>, &str)]) -> GuestIndex {
        let rng = &mut ChaCha20Rng::seed_from_u64(1);
        GuestIndex::new(
            people
                .iter()
                .map(|(name, email, code)| (guest(rng, name, *email), *code)),
        )
    }

    fn names(hits: &Hits<'_>) -> Vec<String> {
        hits.best.iter().map(|g| g.name.clone()).collect()
    }

    #[test]
    fn folding_drops_case_accents_and_punctuation() {
        assert_eq!(fold("  Zoë  O'Brien-Núñez "), "zoe o brien nunez");
        assert_eq!(fold("ÅSA Ørsted"), "asa ørsted");
        assert_eq!(fold_code("ab-12 CD"), "ab12cd");
    }

    #[test]
    fn whole_words_rank_above_beginnings_and_parts() {
        let index = index(&[
            ("Hannah Berg", None, "C-1"),
            ("Annabel Lee", None, "C-2"),
            ("Anna Schmidt", None, "C-3"),
            ("Anna Adams", None, "C-4"),
            ("Bob Anders", None, "C-5"),
        ]);
        let hits = index.search("anna", 10);
        assert_eq!(
            names(&hits),
            ["Anna Adams", "Anna Schmidt", "Annabel Lee", "Hannah Berg"]
        );
        assert_eq!(hits.total, 4);
        // Every word must match: the last name narrows it down.
        assert_eq!(names(&index.search("Anna schm", 10)), ["Anna Schmidt"]);
        assert_eq!(names(&index.search("schm anna", 10)), ["Anna Schmidt"]);
        assert!(index.search("anna zzz", 10).best.is_empty());
    }

    #[test]
    fn names_with_apostrophes_and_hyphens_are_found_as_typed() {
        let index = index(&[
            ("Seán O'Brien", None, "C-1"),
            ("Jean-Luc Picard", None, "C-2"),
            ("Jean Valjean", None, "C-3"),
        ]);
        assert_eq!(names(&index.search("o'brien", 10)), ["Seán O'Brien"]);
        assert_eq!(names(&index.search("OBrien", 10)), ["Seán O'Brien"]);
        assert_eq!(names(&index.search("sean brien", 10)), ["Seán O'Brien"]);
        assert_eq!(names(&index.search("jean-luc", 10)), ["Jean-Luc Picard"]);
        assert_eq!(names(&index.search("jean luc", 10)), ["Jean-Luc Picard"]);
        assert_eq!(index.search("jean", 10).total, 2);
    }

    #[test]
    fn accents_in_names_or_queries_do_not_matter() {
        let index = index(&[("Zoë Núñez", None, "C-1"), ("Zoe Nunes", None, "C-2")]);
        assert_eq!(names(&index.search("nunez", 10)), ["Zoë Núñez"]);
        assert_eq!(names(&index.search("NÚÑEZ", 10)), ["Zoë Núñez"]);
        assert_eq!(index.search("zoe", 10).total, 2);
    }

    #[test]
    fn finds_by_email_and_by_part_of_the_code() {
        let index = index(&[
            ("Ann Example", Some("ann@example.org"), "ORDER-7781-XQ"),
            ("Ben Other", Some("ben@other.net"), "ORDER-1234-AB"),
        ]);
        assert_eq!(names(&index.search("ann@example.org", 10)), ["Ann Example"]);
        assert_eq!(names(&index.search("ben@", 10)), ["Ben Other"]);
        assert_eq!(names(&index.search("other.net", 10)), ["Ben Other"]);
        assert_eq!(names(&index.search("7781", 10)), ["Ann Example"]);
        assert_eq!(names(&index.search("order-1234-ab", 10)), ["Ben Other"]);
        // Short parts of a code match nothing (every code holds "ord").
        assert!(index.search("12", 10).best.is_empty());
        assert_eq!(index.search("order", 10).total, 2);
    }

    #[test]
    fn an_empty_query_finds_nobody_and_the_limit_keeps_the_best() {
        let people: Vec<(String, Option<&str>, String)> = (0..50)
            .map(|i| (format!("Guest{i:02} Bench"), None, format!("B-{i}")))
            .collect();
        let borrowed: Vec<(&str, Option<&str>, &str)> = people
            .iter()
            .map(|(n, e, c)| (n.as_str(), *e, c.as_str()))
            .collect();
        let index = index(&borrowed);
        assert_eq!(index.search("   ", 10).total, 0);
        assert_eq!(index.search("-.,", 10).total, 0);
        let hits = index.search("guest0", 3);
        assert_eq!(hits.total, 10);
        assert_eq!(
            names(&hits),
            ["Guest00 Bench", "Guest01 Bench", "Guest02 Bench"]
        );
        let hits = index.search("guest07", 3);
        assert_eq!(names(&hits), ["Guest07 Bench"]);
        assert_eq!(index.search("bench", 5).total, 50);
    }
}
