//! HTML as readable text: paragraphs and line breaks, lists, tables as plain lines, links as
//! `text <url>`, images as `[image: name]`, quoted history as `> ` lines; no layout padding,
//! no borders, nothing hidden or styled.
//!
//! The renderer runs over html5ever's *tokenizer*, not its tree builder: the tree builder walks
//! the stack of open elements for every tag, so `<div></span>` repeated 120,000 times took 43 s.
//! Tokenizing is linear, and the element stack kept here is bounded ([`MAX_STACK`]) and only
//! searched that deep, so the work is linear in the input; it is also counted, and over the
//! budget the renderer gives up and the caller shows the HTML tag-stripped.
//!
//! Quoted containers become `> ` lines for the reply-text stripper: `<blockquote>` (Apple's
//! `type=cite`, Thunderbird's, Foxmail's, Alimail's), Gmail's `div.gmail_quote`, NetEase Mail
//! Master's `ntes-mailmaster-quote`; Outlook's `divRplyFwdMsg`/`appendonsend` and Outlook
//! desktop's top-bordered header block quote everything after them (the reply history is the
//! tail of the mail), as does a QQ Mail/Foxmail/Huawei separator line such as
//! `------------------ 原始邮件 ------------------`, which itself stays as text.

use std::cell::RefCell;
use std::collections::HashMap;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, CharacterTokens, EndTag, NullCharacterToken, StartTag, Tag, TagToken, Token,
    TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use html5ever::{LocalName, local_name};

/// Open elements kept; deeper ones are not tracked (their end tags match nothing).
pub(super) const MAX_STACK: usize = 256;

/// Quote levels shown as `> `; deeper quotes are shown at this level.
const MAX_QUOTE_PREFIX: usize = 16;

/// Longest link target shown after a link's text.
const MAX_URL_CHARS: usize = 2000;

/// The HTML was too costly to render; the caller falls back to tag-stripped text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OverWork;

/// Renders `html` as text. `images` maps Content-IDs (without `cid:` or brackets) to the file
/// names of the mail's inline images, for `[image: name]`. `budget` bounds the work (tokens
/// plus element-stack steps); `max_bytes` the text produced (the rest is skipped). Returns the
/// text and the work it took.
pub(super) fn html_to_text(
    html: &str,
    images: &HashMap<String, String>,
    budget: u64,
    max_bytes: usize,
) -> Result<(String, u64), OverWork> {
    let sink = Sink {
        state: RefCell::new(State {
            images: Some(images),
            budget,
            max_bytes,
            ..State::default()
        }),
    };
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let mut state = tokenizer.sink.state.into_inner();
    if state.over {
        return Err(OverWork);
    }
    state.flush_line();
    Ok((state.out, state.work))
}

struct Sink<'a> {
    state: RefCell<State<'a>>,
}

/// An element on the stack, with what it means for the text inside it.
struct Open {
    name: LocalName,
    /// Adds a quote level.
    quote: bool,
    hidden: bool,
    pre: bool,
    /// `Some(next number)` for `<ol>`, `Some(0)` for `<ul>`.
    list: Option<u32>,
    /// A link's target and where its text starts in the current line buffer.
    link: Option<(String, usize)>,
}

#[derive(Default)]
struct State<'a> {
    images: Option<&'a HashMap<String, String>>,
    budget: u64,
    max_bytes: usize,
    work: u64,
    /// Over the work budget: the caller falls back.
    over: bool,
    /// Enough text: the rest is ignored (the caller cuts it and says so).
    full: bool,
    out: String,
    /// The line being built, without its quote prefix.
    line: String,
    /// Quote level of the line being built.
    line_quote: usize,
    /// Line breaks before the line being built (2: a blank line).
    gap: usize,
    /// Quote level of the last line written, for the blank lines after it.
    last_quote: usize,
    /// A space is due before the next word.
    space: bool,
    /// Line breaks due before the next text: 1 ends the line, 2 leaves a blank line.
    breaks: usize,
    stack: Vec<Open>,
    /// Everything from here to the end is reply history (Outlook, QQ Mail).
    tail_quote: bool,
    /// Cells already written in the current table row.
    cells: usize,
}

impl TokenSink for Sink<'_> {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut state = self.state.borrow_mut();
        if state.over || state.full {
            return TokenSinkResult::Continue;
        }
        state.work += 1;
        let result = match token {
            TagToken(tag) => state.tag(tag),
            CharacterTokens(text) => {
                state.work += text.len() as u64 / 64;
                state.text(&text);
                TokenSinkResult::Continue
            }
            NullCharacterToken => TokenSinkResult::Continue,
            _ => TokenSinkResult::Continue,
        };
        if state.work > state.budget {
            state.over = true;
        } else if state.out.len() > state.max_bytes {
            state.full = true;
        }
        result
    }
}

fn attr<'t>(tag: &'t Tag, name: &str) -> Option<&'t str> {
    tag.attrs
        .iter()
        .find(|a| {
            let local: &str = &a.name.local;
            local.eq_ignore_ascii_case(name)
        })
        .map(|a| a.value.as_ref())
}

fn has_class(tag: &Tag, class: &str) -> bool {
    attr(tag, "class").is_some_and(|c| c.split_ascii_whitespace().any(|t| t == class))
}

/// Inline style, lower-cased without whitespace.
fn style(tag: &Tag) -> String {
    attr(tag, "style")
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_hidden(tag: &Tag) -> bool {
    let style = style(tag);
    attr(tag, "hidden").is_some()
        || style.contains("display:none")
        || style.contains("mso-hide:all")
}

/// Elements whose end tag never comes (or need not).
fn is_void(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("area")
            | local_name!("base")
            | local_name!("br")
            | local_name!("col")
            | local_name!("embed")
            | local_name!("hr")
            | local_name!("img")
            | local_name!("input")
            | local_name!("link")
            | local_name!("meta")
            | local_name!("source")
            | local_name!("track")
            | local_name!("wbr")
            | local_name!("param")
    )
}

/// Elements whose content is never text for the reader.
fn is_invisible(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("head")
            | local_name!("title")
            | local_name!("style")
            | local_name!("script")
            | local_name!("template")
            | local_name!("svg")
            | local_name!("math")
            | local_name!("object")
            | local_name!("iframe")
            | local_name!("select")
            | local_name!("textarea")
            | local_name!("noembed")
            | local_name!("noframes")
            | local_name!("xmp")
    )
}

/// Line breaks around an element: 2 for paragraph-like, 1 for other blocks, 0 inline.
fn breaks_around(name: &LocalName) -> usize {
    match *name {
        local_name!("p")
        | local_name!("h1")
        | local_name!("h2")
        | local_name!("h3")
        | local_name!("h4")
        | local_name!("h5")
        | local_name!("h6")
        | local_name!("blockquote")
        | local_name!("pre")
        | local_name!("table")
        | local_name!("hr")
        | local_name!("ul")
        | local_name!("ol")
        | local_name!("dl")
        | local_name!("figure") => 2,
        local_name!("div")
        | local_name!("section")
        | local_name!("article")
        | local_name!("header")
        | local_name!("footer")
        | local_name!("nav")
        | local_name!("aside")
        | local_name!("main")
        | local_name!("address")
        | local_name!("center")
        | local_name!("form")
        | local_name!("fieldset")
        | local_name!("figcaption")
        | local_name!("details")
        | local_name!("summary")
        | local_name!("dt")
        | local_name!("dd")
        | local_name!("li")
        | local_name!("tr")
        | local_name!("caption")
        | local_name!("legend")
        | local_name!("option")
        | local_name!("body")
        | local_name!("html") => 1,
        _ => 0,
    }
}

/// Whether a new `new` element closes an open `open` one implicitly (a `<li>` the previous
/// `<li>`, a `<tr>` the open cell).
fn closes_implicitly(new: &LocalName, open: &LocalName) -> bool {
    match *new {
        local_name!("p") => *open == local_name!("p"),
        local_name!("li") => *open == local_name!("li"),
        local_name!("dt") | local_name!("dd") => {
            matches!(*open, local_name!("dt") | local_name!("dd"))
        }
        local_name!("td") | local_name!("th") => {
            matches!(*open, local_name!("td") | local_name!("th"))
        }
        local_name!("tr") => matches!(
            *open,
            local_name!("td") | local_name!("th") | local_name!("tr")
        ),
        local_name!("option") => *open == local_name!("option"),
        _ => false,
    }
}

fn may_close_implicitly(new: &LocalName) -> bool {
    matches!(
        *new,
        local_name!("p")
            | local_name!("li")
            | local_name!("dt")
            | local_name!("dd")
            | local_name!("td")
            | local_name!("th")
            | local_name!("tr")
            | local_name!("option")
    )
}

/// Where an implicit close stops looking (a list item does not close one of an outer list).
fn scope_boundary(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("ul")
            | local_name!("ol")
            | local_name!("dl")
            | local_name!("table")
            | local_name!("tbody")
            | local_name!("thead")
            | local_name!("tfoot")
            | local_name!("blockquote")
            | local_name!("div")
            | local_name!("body")
            | local_name!("select")
    )
}

/// The reply-history separator QQ Mail, Foxmail, Exmail and Huawei write above a quote.
fn is_history_separator(line: &str) -> bool {
    let line = line.trim();
    let inner = line.trim_matches(|c| c == '-' || c == '—' || c == ' ');
    let dashes = line.len() - line.trim_start_matches('-').len();
    let words = [
        "原始邮件",
        "原始郵件",
        "Original",
        "Original Message",
        "回复的原邮件",
        "转发的原邮件",
        "Forwarded Message",
        "Forwarded message",
    ];
    (dashes >= 4 && words.contains(&inner)) || inner == "原始邮件" && line == inner
}

impl State<'_> {
    fn hidden(&self) -> bool {
        self.stack.iter().any(|o| o.hidden)
    }

    fn in_pre(&self) -> bool {
        self.stack.iter().any(|o| o.pre)
    }

    fn quote_level(&self) -> usize {
        let open = self.stack.iter().filter(|o| o.quote).count();
        (open + usize::from(self.tail_quote)).min(MAX_QUOTE_PREFIX)
    }

    fn request_breaks(&mut self, n: usize) {
        self.breaks = self.breaks.max(n);
        self.space = false;
    }

    /// A `<br>` or a newline inside `<pre>`: a second one in a row leaves a blank line.
    fn line_break(&mut self) {
        if self.out.is_empty() && self.line.is_empty() {
            return;
        }
        self.breaks = (self.breaks + 1).min(2);
        self.space = false;
    }

    /// Writes the line being built, with its quote prefix, after the gap due before it.
    fn flush_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let line = line.trim_end();
        if line.trim().is_empty() {
            return;
        }
        if is_history_separator(line) {
            self.tail_quote = true;
            self.line_quote = self.quote_level();
        }
        if !self.out.is_empty() {
            self.out.push('\n');
            if self.gap >= 2 {
                let level = self.last_quote.min(self.line_quote);
                self.out.push_str(prefix(level).trim_end());
                self.out.push('\n');
            }
        }
        self.out.push_str(&prefix(self.line_quote));
        self.out.push_str(line);
        self.last_quote = self.line_quote;
    }

    /// Ends the line being built if breaks are due, and starts a new one.
    fn begin_text(&mut self) {
        if !self.line.trim().is_empty() && self.breaks > 0 {
            self.flush_line();
        }
        if self.line.trim().is_empty() {
            self.line.clear();
            self.gap = self.breaks;
            self.breaks = 0;
            self.line_quote = self.quote_level();
        }
    }

    fn write(&mut self, word: &str) {
        self.begin_text();
        if self.space && !self.line.is_empty() && !self.line.ends_with(' ') {
            self.line.push(' ');
        }
        self.space = false;
        self.line.push_str(word);
    }

    fn text(&mut self, text: &str) {
        if self.hidden() {
            return;
        }
        if self.in_pre() {
            for (i, piece) in text.split('\n').enumerate() {
                if i > 0 {
                    self.line_break();
                }
                let piece = clean(piece);
                let piece = piece.trim_end_matches('\r');
                if !piece.trim().is_empty() {
                    self.begin_text();
                    self.line.push_str(&piece.replace('\u{a0}', " "));
                }
            }
            return;
        }
        let cleaned = clean(text);
        let collapsible = |c: char| c.is_whitespace() && c != '\u{a0}';
        if cleaned.starts_with(collapsible) {
            self.space = true;
        }
        for (i, word) in cleaned
            .split(collapsible)
            .filter(|w| !w.is_empty())
            .enumerate()
        {
            if i > 0 {
                self.space = true;
            }
            self.write(&word.replace('\u{a0}', " "));
        }
        if cleaned.ends_with(collapsible) {
            self.space = true;
        }
    }

    fn tag(&mut self, tag: Tag) -> TokenSinkResult<()> {
        match tag.kind {
            StartTag => self.start(tag),
            EndTag => {
                self.end(&tag.name);
                TokenSinkResult::Continue
            }
        }
    }

    fn start(&mut self, tag: Tag) -> TokenSinkResult<()> {
        let name = tag.name.clone();
        let raw = match name {
            local_name!("script") => Some(RawKind::ScriptData),
            local_name!("style")
            | local_name!("xmp")
            | local_name!("iframe")
            | local_name!("noembed")
            | local_name!("noframes") => Some(RawKind::Rawtext),
            local_name!("title") | local_name!("textarea") => Some(RawKind::Rcdata),
            _ => None,
        };
        if may_close_implicitly(&name) {
            self.close_implicitly(&name);
        }
        if breaks_around(&name) > 0
            && self
                .stack
                .last()
                .is_some_and(|o| o.name == local_name!("p"))
        {
            self.pop_to(self.stack.len() - 1);
        }
        let hidden = is_hidden(&tag) || is_invisible(&name);
        if !self.hidden() && !hidden {
            self.open_effects(&tag);
        }
        if is_void(&name)
            || tag.self_closing && !matches!(name, local_name!("div") | local_name!("a"))
        {
            return match raw {
                Some(kind) if !tag.self_closing => TokenSinkResult::RawData(kind),
                _ => TokenSinkResult::Continue,
            };
        }
        if self.stack.len() < MAX_STACK {
            let in_gmail_quote = self
                .stack
                .iter()
                .rev()
                .find(|o| o.quote)
                .is_some_and(|o| o.name == local_name!("div"));
            let id = attr(&tag, "id").unwrap_or("");
            let quote = match name {
                local_name!("blockquote") => !(in_gmail_quote && has_class(&tag, "gmail_quote")),
                local_name!("div") => {
                    has_class(&tag, "gmail_quote") || has_class(&tag, "ntes-mailmaster-quote")
                }
                _ => false,
            };
            let outlook_history = id == "divRplyFwdMsg"
                || id == "appendonsend"
                || id == "mail-editor-reference-message-container"
                || (name == local_name!("div") && {
                    let s = style(&tag);
                    s.contains("border:none;border-top:solid#e1e1e1")
                        || s.contains("border:none;border-top:solid#b5c4df")
                });
            if outlook_history && !self.hidden() && !hidden {
                self.begin_block(1);
                self.tail_quote = true;
            }
            let list = match name {
                local_name!("ol") => Some(
                    attr(&tag, "start")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(1),
                ),
                local_name!("ul") => Some(0),
                _ => None,
            };
            let link = (name == local_name!("a"))
                .then(|| attr(&tag, "href").map(|h| (h.trim().to_string(), self.line.len())))
                .flatten();
            if quote && !self.hidden() && !hidden {
                self.begin_block(2);
            }
            self.stack.push(Open {
                name,
                quote,
                hidden,
                pre: tag.name == local_name!("pre"),
                list,
                link,
            });
        } else {
            self.work += MAX_STACK as u64;
        }
        match raw {
            Some(kind) => TokenSinkResult::RawData(kind),
            None => TokenSinkResult::Continue,
        }
    }

    fn begin_block(&mut self, breaks: usize) {
        if !self.line.trim().is_empty() {
            self.request_breaks(breaks);
        } else {
            self.breaks = self.breaks.max(breaks);
        }
    }

    /// What an element does to the text where it opens.
    fn open_effects(&mut self, tag: &Tag) {
        let name = &tag.name;
        match *name {
            local_name!("br") => self.line_break(),
            local_name!("img") => {
                let style = style(tag);
                let tiny =
                    |a: &str| attr(tag, a).is_some_and(|v| v.trim() == "1" || v.trim() == "0");
                if (tiny("width") && tiny("height")) || style.contains("display:none") {
                    return;
                }
                let name = self.image_name(tag);
                self.space = self.space || !self.line.is_empty();
                self.write(&format!("[image: {name}]"));
            }
            local_name!("li") => {
                self.begin_block(1);
                let depth = self.stack.iter().filter(|o| o.list.is_some()).count();
                let marker = match self.stack.iter_mut().rev().find(|o| o.list.is_some()) {
                    Some(Open { list: Some(n), .. }) if *n > 0 => {
                        let marker = format!("{n}. ");
                        *n += 1;
                        marker
                    }
                    _ => "* ".to_string(),
                };
                let indent = "  ".repeat(depth.saturating_sub(1).min(8));
                self.write(&format!("{indent}{}", marker.trim_end()));
                self.space = true;
            }
            local_name!("tr") => {
                self.begin_block(1);
                self.cells = 0;
            }
            local_name!("td") | local_name!("th") => {
                if self.cells > 0 && !self.line.trim().is_empty() && self.breaks == 0 {
                    self.write("");
                    let kept = self.line.trim_end_matches(' ').len();
                    self.line.truncate(kept);
                    self.line.push_str("  ");
                }
                self.cells += 1;
            }
            _ => {
                let breaks = breaks_around(name);
                if breaks > 0 {
                    self.begin_block(breaks);
                }
            }
        }
    }

    fn image_name(&self, tag: &Tag) -> String {
        let clean = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(alt) = attr(tag, "alt").map(clean).filter(|a| !a.is_empty()) {
            return alt.chars().take(200).collect();
        }
        if let Some(title) = attr(tag, "title").map(clean).filter(|a| !a.is_empty()) {
            return title.chars().take(200).collect();
        }
        let src = attr(tag, "src").unwrap_or("").trim();
        if let Some(cid) = src.get(..4).filter(|p| p.eq_ignore_ascii_case("cid:")) {
            let id = src[cid.len()..].trim_matches(['<', '>']);
            if let Some(name) = self.images.and_then(|images| images.get(id)) {
                return name.clone();
            }
        }
        if src.starts_with("data:") || src.is_empty() {
            return "image".into();
        }
        let path = src.split(['?', '#']).next().unwrap_or("");
        let last = path.rsplit('/').next().unwrap_or("");
        let last = clean(last);
        if last.is_empty() || last.contains(':') {
            "image".into()
        } else {
            last.chars().take(200).collect()
        }
    }

    fn close_implicitly(&mut self, new: &LocalName) {
        for index in (0..self.stack.len()).rev() {
            self.work += 1;
            let open = &self.stack[index].name;
            if closes_implicitly(new, open) {
                self.pop_to(index);
                return;
            }
            if scope_boundary(open) {
                return;
            }
        }
    }

    fn end(&mut self, name: &LocalName) {
        if *name == local_name!("br") {
            // `</br>` is a line break too, as browsers read it.
            self.line_break();
            return;
        }
        if *name == local_name!("p") && !self.stack.iter().any(|o| o.name == local_name!("p")) {
            self.request_breaks(2);
            return;
        }
        for index in (0..self.stack.len()).rev() {
            self.work += 1;
            if self.stack[index].name == *name {
                self.pop_to(index);
                return;
            }
        }
    }

    /// Closes the element at `index` and everything opened inside it.
    fn pop_to(&mut self, index: usize) {
        while self.stack.len() > index {
            let Some(open) = self.stack.pop() else {
                return;
            };
            let visible = !open.hidden && !self.hidden();
            if !visible {
                continue;
            }
            if let Some((href, start)) = open.link {
                self.link_suffix(&href, start);
            }
            let breaks = breaks_around(&open.name);
            if open.quote {
                self.begin_block(2);
            } else if breaks > 0 {
                self.begin_block(breaks);
            }
            if matches!(open.name, local_name!("td") | local_name!("th")) {
                self.space = true;
            }
        }
    }

    fn link_suffix(&mut self, href: &str, start: usize) {
        let lower = href.to_ascii_lowercase();
        if href.is_empty()
            || href.starts_with('#')
            || lower.starts_with("javascript:")
            || lower.starts_with("cid:")
            || lower.starts_with("data:")
        {
            return;
        }
        let target = lower
            .strip_prefix("mailto:")
            .map(|_| &href[7..])
            .unwrap_or(href);
        let text = self
            .line
            .get(start.min(self.line.len())..)
            .unwrap_or("")
            .trim();
        let same = |a: &str, b: &str| {
            let norm = |s: &str| {
                s.trim()
                    .trim_end_matches('/')
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .trim_start_matches("www.")
                    .to_ascii_lowercase()
            };
            norm(a) == norm(b)
        };
        if same(text, target) || same(text, href) || self.line.len() < start {
            return;
        }
        let target: String = target.chars().take(MAX_URL_CHARS).collect();
        self.space = !text.is_empty();
        self.write(&format!("<{target}>"));
    }
}

/// Text without the invisible characters newsletters pad with.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{200b}'
                    | '\u{200c}'
                    | '\u{200d}'
                    | '\u{2060}'
                    | '\u{feff}'
                    | '\u{034f}'
                    | '\u{ad}'
            )
        })
        .collect()
}

fn prefix(level: usize) -> String {
    "> ".repeat(level)
}
