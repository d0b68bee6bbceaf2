//! Log lines and progress in the form Stash reads from a plugin's standard error:
//! `\x01` level `\x02` message, one short line each.

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::{Level, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The longest message sent: Stash reads standard error line by line with a 64 KiB limit.
const MAX_LINE: usize = 2_000;

/// Sends every `tracing` event at info and above (debug with `verbose`) to standard error in
/// Stash's form.
pub(crate) fn init(verbose: bool) {
    let level = if verbose { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "warn,plexsync={level},plexsync_cli={level},engine={level}"
    ));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(StashFormat)
        .try_init();
}

/// Makes `text` one line that Stash shows as written: no line breaks, no control characters
/// (which could forge a level prefix), and not too long.
pub(crate) fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len().min(MAX_LINE));
    for c in text.chars() {
        if line.len() >= MAX_LINE {
            line.push('…');
            break;
        }
        line.push(if c.is_control() { ' ' } else { c });
    }
    line
}

/// A log line at `level`, written at once.
pub(crate) fn line(level: Level, text: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "\x01{}\x02{}",
        prefix(level),
        one_line(text)
    );
}

/// The letter Stash reads as `level`.
fn prefix(level: Level) -> char {
    match level {
        Level::TRACE => 't',
        Level::DEBUG => 'd',
        Level::INFO => 'i',
        Level::WARN => 'w',
        Level::ERROR => 'e',
    }
}

/// Task progress, 0 to 1.
pub(crate) fn progress(fraction: f64) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "\x01p\x02{:.3}",
        fraction.clamp(0.0, 1.0)
    );
}

struct StashFormat;

impl<S, N> FormatEvent<S, N> for StashFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = prefix(*event.metadata().level());
        let mut message = String::new();
        ctx.format_fields(format::Writer::new(&mut message), event)?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                    let _ = write!(message, " ({})", fields);
                }
            }
        }
        writeln!(writer, "\x01{level}\x02{}", one_line(&message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_printable_line_and_short() {
        assert_eq!(one_line("a\nb\r\x01e\x02c"), "a b  e c");
        let long = one_line(&"é".repeat(5_000));
        assert!(long.len() <= MAX_LINE + 4, "{}", long.len());
        assert!(long.ends_with('…'));
    }
}
