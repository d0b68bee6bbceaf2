//! Text from outside (a server's name, an error it sent, a scene's title) made safe to print:
//! a terminal must not take it for escape sequences, nor a log reader for lines of its own.

use std::borrow::Cow;

/// `println!` for text that may hold what a server or a user sent: every control character
/// in the line is shown as `?`.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", $crate::text::printable(&format!($($arg)*)))
    };
}
pub(crate) use say;

/// `text` with every control character (newlines, escapes, C1 controls) replaced by `?`;
/// borrowed when there is none.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::printable;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a server sends, what is printed holds no control character, keeps every
        /// other character, and is as long.
        #[test]
        fn nothing_printed_controls_the_terminal(text in any::<String>()) {
            let shown = printable(&text);
            prop_assert!(!shown.chars().any(char::is_control));
            prop_assert_eq!(shown.chars().count(), text.chars().count());
            for (a, b) in text.chars().zip(shown.chars()) {
                prop_assert!(a == b || (a.is_control() && b == '?'));
            }
        }
    }

    #[test]
    fn escapes_and_newlines_are_shown_not_obeyed() {
        assert_eq!(printable("fake\u{1b}[2J\nok"), "fake?[2J?ok");
        assert_eq!(printable("Wohnzimmer Plex"), "Wohnzimmer Plex");
    }
}
