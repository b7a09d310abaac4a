//! How wpool's messages quote a long input: [`shorten`].

/// How many characters of a long text a message quotes.
const QUOTED_CHARS: usize = 200;

/// `text` as is when it is at most 200 characters long, else its first 200
/// characters and its length: how wpool's messages quote a long input.
///
/// ```
/// assert_eq!(wpool::shorten("[1, 2]"), "[1, 2]");
/// let long = "x".repeat(4 << 20);
/// assert_eq!(wpool::shorten(&long), format!("{}… (4194304 bytes)", "x".repeat(200)));
/// ```
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
    }
}
