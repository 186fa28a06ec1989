//! Header hygiene for the mail we write: whatever we put in a header (a subject from a customer,
//! a name from the directory, a template's first line) must not be able to start another header.

/// Makes a value safe for a header: control characters (CR/LF above all, which would start a
/// new header) become spaces, runs of whitespace collapse, and it is cut at 200 characters.
pub(crate) fn sanitize_header(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let collapsed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_cannot_carry_new_headers() {
        assert_eq!(sanitize_header("a\r\nBcc: x@y\n"), "a Bcc: x@y");
    }
}
