//! What one mail may cost the parser. A hostile mail under every size limit can still be made
//! of a million header fields, a hundred thousand References ids, MIME nested ten thousand deep
//! or HTML that is quadratic to lay out; each of those is bounded here, so no single mail costs
//! more than a fraction of a second or more than a few times its size in memory.
//!
//! The operator sets them in `[parse]`; each over-budget outcome names its key, either as the
//! quarantine reason or as a note on the message when the parser degrades gracefully instead.

use serde::Deserialize;

/// The parser's budgets (`[parse]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Header fields in the whole mail (its own header and every part's); more → quarantine.
    pub max_header_fields: usize,
    /// MIME parts, nested messages' included; more → quarantine.
    pub max_mime_parts: usize,
    /// Nesting of multiparts and attached messages; deeper → quarantine.
    pub max_mime_depth: usize,
    /// Message-IDs kept from References (and In-Reply-To): the first and the last ones, as
    /// RFC 5537 §3.4.4 keeps them when shortening a long References.
    pub max_reference_ids: usize,
    /// Bytes of text kept on the message (all text parts together); the rest is cut with a note.
    pub max_text_bytes: usize,
    /// Work units (tokens plus element-stack steps) for turning one mail's HTML into text; over
    /// it, the HTML is shown tag-stripped.
    pub max_html_work: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_fields: 10_000,
            max_mime_parts: 1_000,
            max_mime_depth: 50,
            max_reference_ids: 100,
            max_text_bytes: 1024 * 1024,
            max_html_work: 20_000_000,
        }
    }
}

/// A budget a mail went over: the quarantine reason names the configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverBudget {
    /// What was counted, e.g. "MIME parts".
    pub what: &'static str,
    /// At least this many were found (counting stops at the first one over).
    pub found: u64,
    /// The limit.
    pub limit: u64,
    /// The configuration key, e.g. `parse.max_mime_parts`.
    pub key: &'static str,
}

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "over budget: more than {} {} (the limit is {})",
            self.limit, self.what, self.key
        )
    }
}

impl Limits {
    pub(crate) fn header_fields(&self, found: usize) -> OverBudget {
        over(
            "header fields",
            found,
            self.max_header_fields,
            "parse.max_header_fields",
        )
    }

    pub(crate) fn mime_parts(&self, found: usize) -> OverBudget {
        over(
            "MIME parts",
            found,
            self.max_mime_parts,
            "parse.max_mime_parts",
        )
    }

    pub(crate) fn mime_depth(&self, found: usize) -> OverBudget {
        over(
            "levels of MIME nesting",
            found,
            self.max_mime_depth,
            "parse.max_mime_depth",
        )
    }
}

fn over(what: &'static str, found: usize, limit: usize, key: &'static str) -> OverBudget {
    OverBudget {
        what,
        found: found as u64,
        limit: limit as u64,
        key,
    }
}
