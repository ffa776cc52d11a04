//! The tool's own output lines (`say!` for stdout, `tell!` for stderr), declared before every
//! other module so that all of them can use the macros.

/// `println!` that never panics: a reader that goes away (`frelu train … | head -1`) must not
/// stop a run halfway; what it would have read is dropped.
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics (see `say!`).
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
