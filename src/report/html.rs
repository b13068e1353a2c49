//! HTML for the rich displays (tables and summaries in notebooks): text made safe to place
//! between tags.

/// `s` with `&`, `<` and `>` escaped, so it shows as text inside an HTML element.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
