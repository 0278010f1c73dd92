//! Progress events drawn as docker's `jsonmessage` display draws them: on a terminal each keyed
//! line is rewritten in place (cursor moves, erase line, bars when wider than 110 columns);
//! elsewhere lines without a bar are printed one after another. Pure: returns the text.

use std::collections::HashMap;

use super::progress::Event;

const ERASE_LINE: &str = "\x1b[2K";

/// Display state: which keyed line sits where.
#[derive(Debug)]
pub struct Display {
    tty: bool,
    width: u16,
    lines: HashMap<String, usize>,
}

impl Display {
    /// `tty` when stdout is a terminal of `width` columns.
    pub fn new(tty: bool, width: u16) -> Self {
        Self {
            tty,
            width,
            lines: HashMap::new(),
        }
    }

    /// The bytes that show `event`.
    pub fn render(&mut self, event: &Event) -> String {
        let mut out = String::new();
        match event {
            Event::Message(text) => {
                self.lines.clear();
                out.push_str(text);
                out.push('\n');
            }
            Event::Line { id, action, bar } => {
                let known = self.lines.len();
                let index = *self.lines.entry(id.clone()).or_insert(known);
                let diff = self.lines.len() - index;
                if !self.tty {
                    if bar.is_some_and(|(current, total)| current > 0 || total > 0) {
                        return out;
                    }
                    out.push_str(&format!("{id}: {action}\n"));
                    return out;
                }
                if index == known {
                    out.push('\n');
                }
                out.push_str(&format!("\x1b[{diff}A{ERASE_LINE}\r{id}: {action} "));
                if let Some((current, total)) = bar {
                    out.push_str(&bar_box(*current, *total, self.width));
                }
                out.push_str(&format!("\r\x1b[{diff}B"));
            }
        }
        out
    }
}

/// Docker's progress bar: 50 cells of `=` ending in `>`, only on terminals over 110 columns.
fn bar_box(current: i64, total: i64, width: u16) -> String {
    if total <= 0 || width <= 110 {
        return String::new();
    }
    let percent = current.saturating_mul(100) / total / 2;
    let filled = usize::try_from(percent.clamp(0, 50)).unwrap_or(0);
    format!("[{}>{}] ", "=".repeat(filled), " ".repeat(50 - filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, action: &str, bar: Option<(i64, i64)>) -> Event {
        Event::Line {
            id: id.into(),
            action: action.into(),
            bar,
        }
    }

    #[test]
    fn plain_output_prints_lines_without_bars() {
        let mut d = Display::new(false, 200);
        assert_eq!(
            d.render(&line("overall progress", "0 out of 1 tasks", None)),
            "overall progress: 0 out of 1 tasks\n"
        );
        assert_eq!(d.render(&line("1/1", "running  ", Some((9, 9)))), "");
        assert_eq!(
            d.render(&line("1/1", "no suitable node", None)),
            "1/1: no suitable node\n"
        );
        assert_eq!(
            d.render(&Event::Message(
                "Operation continuing in background.".into()
            )),
            "Operation continuing in background.\n"
        );
    }

    #[test]
    fn terminal_output_redraws_each_line_in_place() {
        let mut d = Display::new(true, 200);
        assert_eq!(
            d.render(&line("overall progress", "0 out of 2 tasks", None)),
            "\n\x1b[1A\x1b[2K\roverall progress: 0 out of 2 tasks \r\x1b[1B"
        );
        assert_eq!(
            d.render(&line("1/2", " ", None)),
            "\n\x1b[1A\x1b[2K\r1/2:   \r\x1b[1B"
        );
        let full = format!("[{}>] ", "=".repeat(50));
        assert_eq!(
            d.render(&line("1/2", "running  ", Some((9, 9)))),
            format!("\x1b[1A\x1b[2K\r1/2: running   {full}\r\x1b[1B")
        );
        assert_eq!(
            d.render(&line("overall progress", "1 out of 2 tasks", None)),
            "\x1b[2A\x1b[2K\roverall progress: 1 out of 2 tasks \r\x1b[2B"
        );
        let mut narrow = Display::new(true, 80);
        assert_eq!(
            narrow.render(&line("1/1", "pending  ", Some((3, 9)))),
            "\n\x1b[1A\x1b[2K\r1/1: pending   \r\x1b[1B"
        );
    }

    #[test]
    fn bars_fill_in_proportion() {
        assert_eq!(
            bar_box(8, 9, 120),
            format!("[{}>{}] ", "=".repeat(44), " ".repeat(6))
        );
        assert_eq!(bar_box(0, 0, 200), "");
    }
}
