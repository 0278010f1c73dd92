//! Output formatting: Go-template subset, docker-style tables and human units. No daemon calls here.

pub mod json;
pub mod natural;
pub mod progress;
pub mod table;
pub mod units;

pub use berth_gotemplate::Template;
pub use table::render_rows;
