//! Issue 18 (every part, every charset, readable text) on the mails of `tests/mail/mime/`
//! (each rebuilds the shape of a named Zammad fixture), and issue 14's parse budgets on the
//! hostile mails it reported. Budget tests assert the guard tripped or the work stayed bounded,
//! never a wall-clock time.

use std::collections::HashMap;

use crate::mail::inbound::Inbound;
use crate::mail::parse::html::{MAX_STACK, html_to_text};
use crate::mail::parse::{Limits, ParseError, parse, parse_with};

const MIME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail/mime");

fn mime(name: &str) -> Inbound {
    let raw = crate::fixtures::read(&format!("{MIME}/{name}"));
    parse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn names(inbound: &Inbound) -> Vec<&str> {
    inbound
        .attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect()
}

fn render(html: &str) -> String {
    html_to_text(html, &HashMap::new(), u64::MAX, usize::MAX)
        .expect("within budget")
        .0
}

// ---- every part is accounted for ------------------------------------------------------------

#[test]
fn mail102_inline_screenshots_are_attachments_with_their_content_id() {
    let inbound = mime("inline-screenshots.eml");
    assert_eq!(names(&inbound), ["shot1.png", "image.png"]);
    for (a, id) in inbound.attachments.iter().zip(["shot1", "shot2"]) {
        assert!(a.inline);
        assert_eq!(a.content_type, "image/png");
        assert_eq!(
            a.content_id.as_deref(),
            Some(&*format!("{id}@customer.example"))
        );
    }
    // The plain version carries the same words, so it is the text; the images stay.
    assert!(!inbound.from_html);
    assert!(
        inbound.text.starts_with("后台报错，见截图："),
        "{}",
        inbound.text
    );
}

#[test]
fn mail088_a_mail_that_is_only_a_photo_keeps_it() {
    let inbound = mime("only-a-photo.eml");
    assert_eq!(names(&inbound), ["IMG_0042.JPG"]);
    assert_eq!(inbound.attachments[0].content_type, "image/jpeg");
    assert!(inbound.attachments[0].data.starts_with(&[0xff, 0xd8]));
    assert_eq!(inbound.text, "[image: IMG_0042.JPG]");
}

#[test]
fn mail111_the_html_message_beside_a_plain_signature_is_shown() {
    let inbound = mime("html-then-plain-signature.eml");
    assert_eq!(
        inbound.text,
        "The checkout page shows error 500\n\n[part 2]\n\nZhang San, Example Shop"
    );
    assert!(inbound.from_html);
    assert!(inbound.attachments.is_empty());
}

#[test]
fn mail112_every_text_part_of_a_mixed_mail_in_order() {
    let inbound = mime("html-plain-html.eml");
    assert_eq!(
        inbound.text,
        "first part in html\n\n[part 2]\n\nsecond part in plain text\n\n[part 3]\n\nthird part, a signature"
    );
}

#[test]
fn alternative_prefers_plain_only_when_it_carries_the_words() {
    let alternative = |plain: &str, html: &str| {
        let raw = format!(
            "From: a@x.com\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{plain}\r\n--b\r\n\
             Content-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b--\r\n"
        );
        parse(raw.as_bytes()).unwrap()
    };
    let same = alternative(
        "Hello,\r\n\r\nthe site is down.",
        "<p>Hello,</p><p>the site is <b>down</b>.</p>",
    );
    assert!(!same.from_html);
    assert_eq!(same.text, "Hello,\n\nthe site is down.");
    // A plain version that says "view in a browser" is not faithful.
    let lossy = alternative(
        "Your mail client cannot show this message.",
        "<p>Order 1234 has shipped to Hangzhou.</p>",
    );
    assert!(lossy.from_html);
    assert_eq!(lossy.text, "Order 1234 has shipped to Hangzhou.");
}

#[test]
fn mail078_an_unterminated_inner_multipart_ends_at_the_outer_boundary() {
    let inbound = mime("bounce-unterminated-alternative.eml");
    // The quoted-printable text is decoded, and only it is the text.
    assert_eq!(
        inbound.text,
        "Die Nachricht konnte nicht zugestellt werden: Empfänger unbekannt."
    );
    assert_eq!(
        names(&inbound),
        ["delivery-status.txt", "Re: [SUP-7] your ticket.eml"]
    );
    let returned = &inbound.attachments[1];
    assert_eq!(returned.content_type, "message/rfc822");
    // The returned message is kept as sent: no repair, no enclosing boundary.
    assert!(returned.data.starts_with(b"From: support@example.com\r\n"));
    assert!(
        returned.data.ends_with(b"Hello."),
        "{:?}",
        String::from_utf8_lossy(&returned.data)
    );
    assert!(inbound.machine.dsn);
    assert_eq!(inbound.reported_ids, ["sent-7@example.com"]);
    assert!(
        inbound
            .parse_notes
            .iter()
            .any(|n| n.contains("unterminated")),
        "{:?}",
        inbound.parse_notes
    );
}

#[test]
fn parts_with_no_name_are_named_from_what_they_are() {
    let inbound = mime("unnamed-parts.eml");
    assert_eq!(
        names(&inbound),
        [
            "image.gif",
            "image-2.gif",
            "delivery-status.txt",
            "Server log.bin",
            "原始邮件.eml"
        ]
    );
}

// ---- charsets like a mail client ------------------------------------------------------------

#[test]
fn mail046_raw_gbk_header_is_not_read_as_the_first_declared_charset() {
    let inbound = mime("raw-gbk-subject-latin1-part.eml");
    assert_eq!(inbound.subject, "转发：整体提升企业服务水平");
    assert_eq!(inbound.from.name.as_deref(), Some("武兰成"));
    assert_eq!(inbound.header_charset.as_deref(), Some("GBK"));
    assert_eq!(
        inbound.text,
        "Please see below.\n\n[part 2]\n\n请查看附件。"
    );
}

#[test]
fn mail093_shift_jis_subject_and_a_name_in_a_lying_encoded_word() {
    let inbound = mime("sjis-raw-subject-lying-word.eml");
    assert_eq!(inbound.subject, "ツール");
    assert_eq!(inbound.from.name.as_deref(), Some("ツール EXAMPLE"));
    assert_eq!(inbound.text, "よろしくお願いします。");
    let charset = inbound.charset.as_ref().unwrap();
    assert_eq!(
        (charset.charset.as_str(), charset.declared),
        ("ISO-2022-JP", true)
    );
}

#[test]
fn mail015_mail057_raw_8bit_file_names() {
    let inbound = mime("raw-8bit-file-names.eml");
    assert_eq!(names(&inbound), ["报价单.doc", "Überweisung März.pdf"]);
}

#[test]
fn mail116_iso_2022_jp_without_charset_is_sniffed() {
    let inbound = mime("iso2022jp-undeclared.eml");
    assert_eq!(
        inbound.text,
        "サーバーに接続できません。\n確認をお願いします。"
    );
    assert_eq!(inbound.subject, "お問い合わせ");
    let charset = inbound.charset.unwrap();
    assert_eq!(
        (charset.charset.as_str(), charset.declared),
        ("ISO-2022-JP", false)
    );
}

#[test]
fn mail023_gbk_without_charset_is_sniffed() {
    let inbound = mime("gbk-undeclared.eml");
    assert!(
        inbound.text.starts_with("您好，我们的网站"),
        "{}",
        inbound.text
    );
    assert!(!inbound.text.contains('\u{fffd}'));
    let charset = inbound.charset.unwrap();
    assert_eq!((charset.charset.as_str(), charset.declared), ("GBK", false));
}

#[test]
fn a_declaration_that_does_not_fit_loses() {
    let body = |charset: &str, bytes: &[u8]| {
        let mut raw =
            format!("From: a@x.com\r\nContent-Type: text/plain; charset={charset}\r\n\r\n")
                .into_bytes();
        raw.extend_from_slice(bytes);
        parse(&raw).unwrap()
    };
    // GBK declared as UTF-8.
    let gbk = "请尽快处理这个问题".encode_gbk();
    let m = body("utf-8", &gbk);
    assert_eq!(m.text, "请尽快处理这个问题");
    assert!(!m.charset.unwrap().declared);
    // UTF-8 declared as ISO-8859-1, and 8-bit text declared US-ASCII.
    assert_eq!(body("iso-8859-1", "Grüße".as_bytes()).text, "Grüße");
    assert_eq!(body("us-ascii", "Grüße".as_bytes()).text, "Grüße");
    // Mostly UTF-8 with a Latin-1 footer byte: each read as what it is.
    assert_eq!(
        body("utf-8", b"Gr\xc3\xbc\xc3\x9fe \xa9 2026").text,
        "Grüße © 2026"
    );
    // A real Latin-1 body stays Latin-1.
    let m = body("iso-8859-1", b"Gr\xfc\xdfe");
    assert_eq!(m.text, "Grüße");
    assert!(m.charset.unwrap().declared);
}

trait EncodeGbk {
    fn encode_gbk(&self) -> Vec<u8>;
}

impl EncodeGbk for str {
    fn encode_gbk(&self) -> Vec<u8> {
        encoding_rs::GBK.encode(self).0.into_owned()
    }
}

#[test]
fn encoded_words_that_split_a_character_are_joined() {
    // "测试" in UTF-8 is e6 b5 8b e8 af 95; split after the fourth byte.
    let raw = "From: a@x.com\r\nSubject: =?UTF-8?B?5rWL6A==?= =?UTF-8?B?r5U=?=\r\n\r\nx\r\n";
    assert_eq!(parse(raw.as_bytes()).unwrap().subject, "测试");
}

// ---- readable text from HTML ----------------------------------------------------------------

#[test]
fn mail047_html_tables_become_plain_lines_without_decoration() {
    let inbound = mime("html-table-layout.eml");
    let text = &inbound.text;
    assert!(
        !text.contains(|c: char| ('\u{2500}'..='\u{257f}').contains(&c)),
        "{text}"
    );
    assert!(
        !text.contains("  \n") && !text.contains("preheader"),
        "{text}"
    );
    assert!(
        text.starts_with("Your order\n\nHello,\nyour order has shipped."),
        "{text}"
    );
    assert!(
        text.contains("Item 1  details <https://shop.example/item/1>"),
        "{text}"
    );
    assert!(text.contains("[image: Example Shop]"), "{text}");
    // A tracking pixel is no image; a link whose text is its target is not doubled.
    assert!(!text.contains("p.gif"), "{text}");
    assert!(
        text.contains("Write to us <help@shop.example> or visit https://shop.example/."),
        "{text}"
    );
}

#[test]
fn html_structure_as_text() {
    assert_eq!(render("<p>one</p><p>two<br>three</p>"), "one\n\ntwo\nthree");
    assert_eq!(render("a<br><br>b"), "a\n\nb");
    assert_eq!(
        render("<ul><li>x<li>y</ul><ol><li>first<li>second</ol>"),
        "* x\n* y\n\n1. first\n2. second"
    );
    assert_eq!(
        render("<pre>  code\n    indented\n</pre>after"),
        "  code\n    indented\n\nafter"
    );
    assert_eq!(
        render("x&nbsp;&amp;&lt;y&gt; <script>alert(1)</script><style>p{}</style>z"),
        "x &<y> z"
    );
    assert_eq!(
        render("<a href=\"https://x.example/a\">the docs</a>"),
        "the docs <https://x.example/a>"
    );
    assert_eq!(render("<img src=\"cid:nothing\">"), "[image: image]");
    assert_eq!(
        render("<img src=\"https://x.example/pics/logo.png?v=2\">"),
        "[image: logo.png]"
    );
    let images = HashMap::from([("id1@x".to_string(), "screenshot.png".to_string())]);
    let (text, _) = html_to_text("<img src=\"cid:id1@x\">", &images, u64::MAX, usize::MAX).unwrap();
    assert_eq!(text, "[image: screenshot.png]");
}

#[test]
fn quote_containers_become_quoted_lines() {
    // Apple Mail / Thunderbird.
    assert_eq!(
        render(
            "<div>Fixed, thanks.</div><blockquote type=\"cite\"><div>On Monday Bob wrote:</div><div>it is broken</div></blockquote>"
        ),
        "Fixed, thanks.\n\n> On Monday Bob wrote:\n> it is broken"
    );
    // Nested quotes.
    assert_eq!(
        render("new<blockquote>old<blockquote>older</blockquote></blockquote>"),
        "new\n\n> old\n>\n> > older"
    );
    // Gmail: the attribution and the quote in one container, one level.
    assert_eq!(
        render(
            "<div>ok</div><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Mon, Support wrote:<br></div><blockquote class=\"gmail_quote\">question?</blockquote></div>"
        ),
        "ok\n\n> On Mon, Support wrote:\n>\n> question?"
    );
    // Outlook on the web: everything from divRplyFwdMsg on is history.
    assert_eq!(
        render(
            "<div>Done.</div><div id=\"appendonsend\"></div><hr><div id=\"divRplyFwdMsg\"><b>From:</b> Support<br><b>Sent:</b> Monday</div><div>Hi Tom,</div><div>please check.</div>"
        ),
        "Done.\n\n> From: Support\n> Sent: Monday\n> Hi Tom,\n> please check."
    );
    // QQ Mail: the separator line stays, and it and what follows are history.
    assert_eq!(
        render(
            "<div>确认续期。</div><div><div style=\"font-size: 12px;\">------------------&nbsp;原始邮件&nbsp;------------------</div><div><b>发件人:</b>&nbsp;\"技术支持\"&lt;support@example.com&gt;;</div></div><div>陈先生，您好：</div>"
        ),
        "确认续期。\n> ------------------ 原始邮件 ------------------\n> 发件人: \"技术支持\"<support@example.com>;\n> 陈先生，您好："
    );
}

#[test]
fn replies_corpus_html_quotes_render_with_markers() {
    // Outlook desktop's top-bordered header block starts the history too.
    let text = render(
        "<p class=MsoNormal>Yes, go ahead.</p><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'><p class=MsoNormal><b>From:</b> Support</p></div><p class=MsoNormal>Hi Maria,</p>",
    );
    assert_eq!(text, "Yes, go ahead.\n\n> From: Support\n>\n> Hi Maria,");
}

// ---- parse budgets (issue 14) ---------------------------------------------------------------

#[test]
fn stray_closing_tags_cost_linear_work() {
    // Quadratic in html5ever's tree builder (43 s for 120,000 repeats); here each `</span>`
    // searches at most the bounded element stack.
    let html = "<div></span>".repeat(120_000);
    let (text, work) = html_to_text(&html, &HashMap::new(), u64::MAX, usize::MAX).unwrap();
    assert!(text.is_empty());
    let tags = 240_000u64;
    assert!(work <= tags * (MAX_STACK as u64 + 2), "work {work}");
    // Under the default budget it renders; under a small one the guard trips.
    let raw = format!("From: a@x.com\r\nContent-Type: text/html\r\n\r\n{html}<p>words</p>\r\n");
    let small = Limits {
        max_html_work: 1_000_000,
        ..Limits::default()
    };
    let inbound = parse_with(raw.as_bytes(), &small).unwrap();
    assert!(inbound.text.contains("words"));
    assert!(
        inbound.parse_notes[0].contains("parse.max_html_work"),
        "{:?}",
        inbound.parse_notes
    );
}

#[test]
fn deep_unclosed_nesting_stays_within_the_stack_bound() {
    let html = "<div><blockquote><span>".repeat(50_000) + "deep";
    let (text, work) = html_to_text(&html, &HashMap::new(), u64::MAX, usize::MAX).unwrap();
    assert!(text.ends_with("deep"));
    assert!(work <= 150_001 * (MAX_STACK as u64 + 2), "work {work}");
    // Quote prefixes are bounded too.
    assert!(text.lines().all(|l| l.len() < 100));
}

#[test]
fn a_hundred_thousand_references_keep_the_first_and_the_last() {
    let ids: String = (0..100_000)
        .map(|i| format!(" <id{i}@x.example>"))
        .collect();
    let raw = format!(
        "From: a@x.com\r\nReferences:{ids}\r\nIn-Reply-To: <id99999@x.example>\r\n\r\nbody\r\n"
    );
    let inbound = parse(raw.as_bytes()).unwrap();
    let limit = Limits::default().max_reference_ids;
    assert_eq!(inbound.references.len(), limit);
    assert_eq!(inbound.references[0], "id0@x.example");
    assert_eq!(
        inbound.references[1],
        format!("id{}@x.example", 100_000 - limit + 1)
    );
    assert_eq!(inbound.references.last().unwrap(), "id99999@x.example");
    assert!(
        inbound
            .parse_notes
            .iter()
            .any(|n| n.contains("parse.max_reference_ids"))
    );
}

#[test]
fn too_many_parts_too_deep_too_many_fields_are_refused_naming_the_key() {
    let over = |raw: &str| match parse(raw.as_bytes()) {
        Err(ParseError::OverBudget(reason)) => reason,
        other => panic!("expected over budget, got {other:?}"),
    };
    let mut deep = String::from("From: a@x.com\r\n");
    for level in 0..200 {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
        ));
    }
    assert!(over(&deep).contains("parse.max_mime_depth"));
    let mut many =
        String::from("From: a@x.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
    many.push_str(&"--b\r\n\r\nx\r\n".repeat(5_000));
    assert!(over(&many).contains("parse.max_mime_parts"));
    let fields = format!(
        "From: a@x.com\r\n{}\r\nbody\r\n",
        "X-Junk: 1\r\n".repeat(20_000)
    );
    assert!(over(&fields).contains("parse.max_header_fields"));
    // A header with no end is all header: counted the same way.
    assert!(over(&"X-Junk: 1\r\n".repeat(20_000)).contains("parse.max_header_fields"));
    // Parts inside an attached base64 message count too.
    let inner = format!(
        "From: b@x.com\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n{}",
        "--c\r\n\r\ny\r\n".repeat(3_000)
    );
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(inner);
    let outer = format!(
        "From: a@x.com\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
    );
    assert!(over(&outer).contains("parse.max_mime_parts"));
}

#[test]
fn text_over_its_budget_is_cut_with_a_note() {
    let raw = format!("From: a@x.com\r\n\r\n{}", "长文本 ".repeat(200_000));
    let limits = Limits {
        max_text_bytes: 10_000,
        ..Limits::default()
    };
    let inbound = parse_with(raw.as_bytes(), &limits).unwrap();
    assert!(inbound.text.len() < 10_200);
    assert!(
        inbound
            .text
            .ends_with("[text cut here: longer than parse.max_text_bytes]")
    );
    assert!(
        inbound
            .parse_notes
            .iter()
            .any(|n| n.contains("parse.max_text_bytes"))
    );
}
