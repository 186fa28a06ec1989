//! Whether a configured signing secret is strong enough: it signs the reply addresses and
//! Message-IDs that prove an agent's mail, so guessing it means posting as an agent.
//!
//! The text's alphabet bounds what it can carry: a hex string 4 bits per character, base64
//! (standard or URL-safe) 6, anything else is counted at 6 too (printable ASCII carries at most
//! 6.6; a passphrase far less, which no count can see). At least 128 bits are required, so 32 hex
//! or 22 base64 characters, what `openssl rand -hex 16` / `-base64 16` print. A secret made of a
//! handful of distinct characters (`aaaa…`, `0101…`) is refused whatever its length.

/// Bits a secret must carry.
pub(crate) const MIN_BITS: usize = 128;
/// Fewer distinct characters than this means the text was typed, not generated.
const MIN_DISTINCT: usize = 8;

/// `Ok` for a secret that carries at least [`MIN_BITS`]; otherwise what is wrong with it, for
/// the operator.
pub(crate) fn check(secret: &str) -> Result<(), String> {
    const HOWTO: &str = "e.g. `openssl rand -hex 32`";
    let chars: Vec<char> = secret.chars().collect();
    let hex = chars.iter().all(char::is_ascii_hexdigit);
    let base64 = chars
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '='));
    let (alphabet, per_char) = match (hex, base64) {
        (true, _) => ("hex", 4),
        (false, true) => ("base64", 6),
        _ => ("text", 6),
    };
    let counted = chars.iter().filter(|c| **c != '=' || !base64).count();
    let bits = counted * per_char;
    if bits < MIN_BITS {
        return Err(format!(
            "too weak for a signing key: {counted} {alphabet} characters carry at most {bits} bits, \
             at least {MIN_BITS} are needed (32 hex or 22 base64 characters; {HOWTO})"
        ));
    }
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_DISTINCT {
        return Err(format!(
            "too weak for a signing key: only {} different characters, so not randomly generated ({HOWTO})",
            distinct.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_pass() {
        // `openssl rand -hex 16`, `-hex 32`, `-base64 16` (with padding), URL-safe base64.
        assert_eq!(check("9f86d081884c7d659a2feaa0c55ad015"), Ok(()));
        assert_eq!(
            check("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            Ok(())
        );
        assert_eq!(check("n4bQgYhMfWWaL+qgxVrQFQ=="), Ok(()));
        assert_eq!(check("n4bQgYhMfWWaL-qgxVrQFQ"), Ok(()));
        assert_eq!(check("test-secret-0123456789abcdef"), Ok(()));
    }

    #[test]
    fn short_or_typed_secrets_are_refused_with_the_count() {
        let e = check("0123456789abcdef0123456789").unwrap_err();
        assert!(
            e.contains("26 hex characters carry at most 104 bits"),
            "{e}"
        );
        let e = check("n4bQgYhMfWWaL+qgxVrQ==").unwrap_err();
        assert!(
            e.contains("20 base64 characters carry at most 120 bits"),
            "{e}"
        );
        let e = check("correct horse").unwrap_err();
        assert!(e.contains("13 text characters"), "{e}");
        let e = check(&"ab".repeat(40)).unwrap_err();
        assert!(e.contains("only 2 different characters"), "{e}");
        assert!(check("").is_err());
    }
}
