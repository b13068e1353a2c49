//! Printing that a closed terminal or pipe cannot kill: `unlearn run ... | head -2` closes stdout
//! after two lines, and `println!` would then panic and end the experiment with no outputs. These
//! macros write what they can and drop the rest once a stream is closed; the run goes on
//! computing and saving.
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` to standard output; once a write fails (a closed pipe), nothing more is written.
pub fn out(args: std::fmt::Arguments<'_>) {
    write_to(&STDOUT_CLOSED, std::io::stdout().lock(), args);
}

/// Writes `args` to standard error, the same way as [`out`].
pub fn err(args: std::fmt::Arguments<'_>) {
    write_to(&STDERR_CLOSED, std::io::stderr().lock(), args);
}

fn write_to(closed: &AtomicBool, mut w: impl Write, args: std::fmt::Arguments<'_>) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    // a closed pipe stays closed; any other failure loses this write only
    if let Err(e) = w.write_fmt(args).and_then(|()| w.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            closed.store(true, Ordering::Relaxed);
        }
    }
}

/// `print!` that survives a closed standard output (see [`out`]).
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::console::out(format_args!($($t)*)) };
}

/// `println!` that survives a closed standard output (see [`out`]).
#[macro_export]
macro_rules! outln {
    () => { $crate::console::out(format_args!("\n")) };
    ($($t:tt)*) => { $crate::console::out(format_args!("{}\n", format_args!($($t)*))) };
}

/// `eprintln!` that survives a closed standard error.
#[macro_export]
macro_rules! errln {
    () => { $crate::console::err(format_args!("\n")) };
    ($($t:tt)*) => { $crate::console::err(format_args!("{}\n", format_args!($($t)*))) };
}

/// `eprint!` that survives a closed standard error.
#[macro_export]
macro_rules! err {
    ($($t:tt)*) => { $crate::console::err(format_args!($($t)*)) };
}
