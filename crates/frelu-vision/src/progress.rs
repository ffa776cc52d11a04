//! Where the library's messages and progress go. The library never prints: whoever runs it
//! hands it a [`Reporter`] (the `frelu` command-line tool's prints lines and draws `indicatif`
//! bars; tests and library callers that want nothing pass [`silent`]).

use std::sync::Arc;

/// Receives what a run, a grid or a benchmark has to say while it works.
pub trait Reporter: Send + Sync {
    /// A line of information: what a run loaded, the per-epoch table, a grid's progress.
    fn info(&self, line: &str);

    /// Something to show even to a user who asked for quiet: a setting the library changed on
    /// its own, a damaged file it left out.
    fn warn(&self, line: &str);

    /// A progress bar over `total` items, shown with `label`; `None` (the default) shows
    /// nothing.
    fn bar(&self, label: &str, total: u64) -> Option<Box<dyn Bar>> {
        let _ = (label, total);
        None
    }
}

/// A progress bar handed out by a [`Reporter`]; it disappears when dropped.
pub trait Bar: Send + Sync {
    /// Items done so far.
    fn set_position(&self, done: u64);
    /// The running values shown beside the bar (e.g. the loss).
    fn set_message(&self, message: &str);
}

/// `seconds` as `H:MM:SS` (negative as 0), for elapsed times and ETAs.
pub fn hms(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn info(&self, _line: &str) {}
    fn warn(&self, _line: &str) {}
}

/// A reporter that reports nothing, to share.
pub fn silent() -> Arc<dyn Reporter> {
    Arc::new(Silent)
}

/// Collects every line, for tests and callers that show them later.
#[derive(Debug, Default)]
pub struct Collect {
    lines: std::sync::Mutex<Vec<String>>,
}

impl Collect {
    /// The lines so far, warnings prefixed with `warning: `.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(&self, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }
}

impl Reporter for Collect {
    fn info(&self, line: &str) {
        self.push(line.to_string());
    }

    fn warn(&self, line: &str) {
        self.push(format!("warning: {line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_keeps_lines_in_order_and_marks_warnings() {
        let collect = Collect::default();
        let reporter: &dyn Reporter = &collect;
        reporter.info("a");
        reporter.warn("b");
        assert!(reporter.bar("x", 3).is_none());
        assert_eq!(collect.lines(), ["a", "warning: b"]);
        Silent.info("nothing");
    }
}
