//! A subset of Go's `text/template` over JSON values: the CLI's `--format` and the log tag
//! berthd renders (`--log-opt tag`). Pure: no I/O.

mod eval;
mod template;

pub use template::Template;
