//! Output formatting: Go-template subset, docker-style tables and human units. No daemon calls here.

mod eval;
pub mod json;
pub mod natural;
pub mod progress;
pub mod table;
pub mod template;
pub mod units;

pub use table::render_rows;
pub use template::Template;
