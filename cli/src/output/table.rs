//! Docker's list formatting: `--format` (`table …`, `json`, Go templates) over row objects, and
//! Go's `text/tabwriter` alignment (minwidth 10, padding 3) used for `table` output.

use anyhow::Result;
use serde_json::Value;

use berth_gotemplate::Template;

const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// Formats `rows` like docker's list commands: `format` may start with `table ` (header row from
/// `header` plus tab alignment), be `json` (one JSON object per line), or be any template.
pub fn render_rows(format: &str, header: &Value, rows: &[Value]) -> Result<String> {
    let trimmed = format.trim();
    let (is_table, body) = match trimmed.strip_prefix("table") {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => (true, rest),
        _ => (false, trimmed),
    };
    let body = if body.trim() == "json" {
        "{{json .}}"
    } else {
        body
    };
    let body = body.trim().replace("\\t", "\t").replace("\\n", "\n");
    let template = Template::parse(&body)?;
    let mut out = String::new();
    if is_table {
        out.push_str(&template.render(header)?);
        out.push('\n');
    }
    for row in rows {
        out.push_str(&template.render(row)?);
        out.push('\n');
    }
    Ok(if is_table { tabwrite(&out) } else { out })
}

/// Aligns tab-separated cells as Go's `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)` does: a column
/// spans consecutive lines that have a cell there; text after a line's last tab is not padded.
pub fn tabwrite(text: &str) -> String {
    tabwrite_min(text, MIN_WIDTH)
}

/// [`tabwrite`] with another minimum cell width (`top` uses 20).
pub fn tabwrite_min(text: &str, min_width: usize) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    let mut widths = Vec::new();
    format_block(&lines, 0, lines.len(), min_width, &mut widths, &mut out);
    out
}

fn format_block(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    min_width: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = min_width;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + PADDING);
            this += 1;
        }
        widths.push(width);
        format_block(lines, line0, this, min_width, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(width) = widths.get(j) {
                let pad = width.saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tabwriter_pads_to_min_width_and_padding() {
        let got = tabwrite("CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox\tx\n");
        assert_eq!(
            got,
            "CONTAINER ID   IMAGE     NAMES\nabc            busybox   x\n"
        );
    }

    #[test]
    fn table_format_prints_header_and_rows() {
        let header = json!({"Names": "NAMES", "ID": "CONTAINER ID"});
        let rows = vec![json!({"Names": "web", "ID": "0123456789ab"})];
        let got = render_rows("table {{.ID}}\\t{{.Names}}", &header, &rows).unwrap();
        assert_eq!(got, "CONTAINER ID   NAMES\n0123456789ab   web\n");
        let plain = render_rows("{{.Names}}", &header, &rows).unwrap();
        assert_eq!(plain, "web\n");
        let js = render_rows("json", &header, &rows).unwrap();
        assert_eq!(js, "{\"ID\":\"0123456789ab\",\"Names\":\"web\"}\n");
    }
}
