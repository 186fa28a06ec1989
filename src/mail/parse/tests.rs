//! The parser against the real-world corpus (tests/corpus), hand-written fixtures (tests/mail)
//! and hostile input.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::mail::inbound::Inbound;
use crate::mail::mailbox::Mailbox;
use crate::mail::parse::attachments::*;
use crate::mail::parse::headers::*;
use crate::mail::parse::machine::*;
use crate::mail::parse::{HeaderSummary, ParseError, header_summary, parse};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail");

fn read(path: &str) -> Vec<u8> {
    crate::fixtures::read(path)
}

fn fixture(name: &str) -> Inbound {
    parse(&read(&format!("{FIXTURES}/{name}"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn corpus(name: &str) -> Inbound {
    parse(&read(&format!("{CORPUS}/{name}"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Parse an inline test mail written with `\n` line ends.
fn mail(text: &str) -> Result<Inbound, ParseError> {
    parse(text.replace('\n', "\r\n").as_bytes())
}

fn utc(text: &str) -> Option<DateTime<Utc>> {
    Some(text.parse().expect("test date"))
}

// ---- the real-world corpus --------------------------------------------------------------

#[test]
fn every_corpus_file_parses_or_is_refused_with_a_reason() {
    for (folder, expected) in [("rt", 26), ("cpython", 48)] {
        let dir = format!("{CORPUS}/{folder}");
        let mut seen = 0;
        for (path, raw) in crate::fixtures::files(&dir) {
            seen += 1;
            match parse(&raw) {
                Ok(inbound) => {
                    assert_eq!(inbound.size, raw.len() as u64);
                    assert!(is_usable(&inbound.from.address), "{path:?}");
                    assert!(!inbound.text.contains('\r'), "{path:?}");
                }
                Err(ParseError::Internal) => panic!("{path:?}: a parser panicked"),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
        assert_eq!(seen, expected, "files in {dir}");
    }
}

#[test]
fn corpus_refusals_have_the_right_reason() {
    let refused = |name: &str| parse(&read(&format!("{CORPUS}/{name}"))).unwrap_err();
    // Plain prose, no header at all.
    assert_eq!(refused("rt/lorem-ipsum"), ParseError::Unparsable);
    // A MIME part without any message header.
    assert_eq!(refused("cpython/msg_18.txt"), ParseError::NoHeaders);
    // To and Subject but no From, Sender, Reply-To or Return-Path.
    assert_eq!(refused("cpython/msg_05.txt"), ParseError::NoSender);
}

#[test]
fn rt_gb18030_ticket_decodes() {
    let inbound = corpus("rt/new-ticket-from-gb18030");
    assert_eq!(inbound.subject, "测试");
    assert_eq!(inbound.text, "测试");
    assert_eq!(inbound.from.address, "root@localhost");
    // No Message-ID in this one.
    assert!(inbound.message_id_synthetic);
}

#[test]
fn rt_rfc2231_continuations_are_joined_before_decoding() {
    let inbound = corpus("rt/rfc2231-attachment-filename-continuations");
    let names: Vec<_> = inbound
        .attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["新しいテキスト ドキュメント.txt"]);
    assert_eq!(inbound.text, "Some data in a file");
}

#[test]
fn rt_multipart_report_is_a_dsn() {
    let inbound = corpus("rt/multipart-report");
    assert!(inbound.machine.dsn);
    assert_eq!(
        inbound.machine.auto_submitted.as_deref(),
        Some("auto-generated")
    );
    assert!(inbound.machine.is_machine_generated());
    let types: Vec<_> = inbound
        .attachments
        .iter()
        .map(|a| a.content_type.as_str())
        .collect();
    assert_eq!(types, ["message/delivery-status", "message/rfc822"]);
    // The returned message is kept whole and named after its subject.
    assert_eq!(inbound.attachments[1].name, "Thank you!.eml");
    assert!(
        inbound.attachments[1]
            .data
            .starts_with(b"Return-Path: <support@example.com>")
    );
}

#[test]
fn rt_html_only_mail_is_converted_with_umlauts() {
    let inbound = corpus("rt/text-html-with-umlaut");
    assert!(inbound.from_html);
    assert!(
        inbound.text.contains("Mit freundlichen Grüßen"),
        "{}",
        inbound.text
    );
    assert!(inbound.text.contains("causes rt to crash"));
    assert!(!inbound.text.contains('<'));
    assert!(!inbound.text.contains('\u{a0}'));
}

#[test]
fn rt_nested_messages_are_attachments_with_their_raw_bytes() {
    let inbound = corpus("rt/nested-rfc-822");
    assert_eq!(inbound.attachments.len(), 1);
    let nested = &inbound.attachments[0];
    assert_eq!(nested.name, "Re: [Para] Nivåer?.eml");
    assert_eq!(nested.content_type, "message/rfc822");
    assert_eq!(nested.size, nested.data.len() as u64);
    assert!(
        nested
            .data
            .starts_with(b"Return-path: <list-bounces@example.com>")
    );

    let named = corpus("rt/email-file-attachment.eml");
    assert_eq!(named.attachments[0].name, "test-email.eml");
}

#[test]
fn latin1_8bit_header_without_charset_is_not_read_as_gb18030() {
    let inbound = corpus("rt/new-ticket-from-iso-8859-1-full");
    assert_eq!(inbound.from.name.as_deref(), Some("Wilhelmsen Håvard"));
}

// ---- hand-written fixtures --------------------------------------------------------------

#[test]
fn gb2312_subject_body_and_group_cc() {
    let inbound = fixture("gb2312.eml");
    assert_eq!(inbound.subject, "打印机无法连接网络");
    assert!(
        inbound
            .text
            .contains("我们办公室的打印机无法连接网络，重启后还是不行，")
    );
    assert!(inbound.text.contains("公司网站也打不开"));
    assert!(inbound.text.ends_with("张三"));
    assert_eq!(
        inbound.from,
        Mailbox {
            name: Some("张三".into()),
            address: "customer@example.com".into(),
        }
    );
    assert_eq!(
        inbound.cc,
        [
            Mailbox {
                name: Some("王五".into()),
                address: "wangwu@example.com".into(),
            },
            Mailbox {
                name: None,
                address: "bob@example.com".into(),
            },
        ]
    );
    assert_eq!(inbound.to[0].address, "support@example.com");
    assert_eq!(inbound.date, utc("2026-11-23T02:00:00Z"));
    assert_eq!(
        inbound.message_id,
        "20261123100000.GB2312.0001@mail.example.com"
    );
    assert!(!inbound.message_id_synthetic);
    assert!(!inbound.from_html);
    assert!(inbound.attachments.is_empty());
    assert!(!inbound.machine.is_machine_generated());
    assert!(inbound.machine.reasons().is_empty());
}

#[test]
fn gbk_body_keeps_characters_outside_gb2312() {
    let inbound = fixture("gbk.eml");
    assert_eq!(inbound.subject, "报销系统无法登录（王镕）");
    assert!(inbound.text.contains("我是财务部的王镕"));
    assert_eq!(inbound.from.name.as_deref(), Some("王镕"));
    assert_eq!(inbound.date, utc("2026-11-24T01:15:30Z"));
}

#[test]
fn big5_subject_and_body() {
    let inbound = fixture("big5.eml");
    assert_eq!(inbound.subject, "印表機無法列印");
    assert!(
        inbound
            .text
            .contains("辦公室的印表機無法列印，顯示「卡紙」但裡面沒有紙。")
    );
    assert!(inbound.text.contains("公司網站也打不開。"));
    assert_eq!(inbound.from.name.as_deref(), Some("陳小明"));
    assert_eq!(inbound.from.address, "customer@example.com.tw");
}

#[test]
fn iso2022jp_subject_and_body() {
    let inbound = fixture("iso2022jp.eml");
    assert_eq!(inbound.subject, "プリンターが動きません");
    assert!(inbound.text.contains("プリンターが印刷できません。"));
    assert!(inbound.text.contains("会社のウェブサイトも開けません。"));
    assert_eq!(inbound.from.name.as_deref(), Some("山田太郎"));
    assert_eq!(inbound.date, utc("2026-11-26T00:00:00Z"));
}

#[test]
fn html_only_chinese_mail_is_converted() {
    let inbound = fixture("html-only.eml");
    assert_eq!(inbound.subject, "网页版无法登录");
    assert!(inbound.from_html);
    assert!(inbound.text.contains("今天早上开始网页版一直提示"));
    assert!(inbound.text.contains("会话已过期"));
    // &nbsp; became a plain space; list items and the link survive.
    assert!(inbound.text.contains("Chrome 131"), "{}", inbound.text);
    assert!(inbound.text.contains("https://example.com/shot.png"));
    assert!(!inbound.text.contains("<p>"));
    assert!(
        !inbound.text.contains("margin"),
        "style sheet leaked: {}",
        inbound.text
    );
}

#[test]
fn foxmail_reply_without_threading_headers() {
    let inbound = fixture("foxmail-reply.eml");
    assert_eq!(inbound.subject, "回复：[SUP-42] 打印机无法连接网络");
    assert!(inbound.in_reply_to.is_empty());
    assert!(inbound.references.is_empty());
    // Threading has to fall back to the subject.
    assert_eq!(
        crate::mail::subject::find_tag(&inbound.subject, "SUP"),
        Some(42)
    );
    assert_eq!(
        crate::mail::subject::normalize(&inbound.subject),
        "打印机无法连接网络"
    );
    // text/plain wins over the HTML alternative.
    assert!(!inbound.from_html);
    assert!(
        inbound
            .text
            .contains("------------------ 原始邮件 ------------------")
    );
    assert_eq!(inbound.reply_text, "好的，重启之后可以了，谢谢！");
    assert_eq!(inbound.from.name.as_deref(), Some("张三"));
    assert_eq!(inbound.to[0].name.as_deref(), Some("客服"));
}

#[test]
fn outlook_chinese_reply_with_threading_headers() {
    let inbound = fixture("outlook-zh-reply.eml");
    assert_eq!(inbound.subject, "答复: [SUP-43] 邮箱无法同步");
    assert_eq!(inbound.in_reply_to, ["sup-43-2@support.example.com"]);
    assert_eq!(
        inbound.references,
        [
            "sup-43-1@support.example.com",
            "sup-43-2@support.example.com"
        ]
    );
    assert_eq!(inbound.reply_text, "已经好了，谢谢。");
    assert!(inbound.text.contains("-----原始邮件-----\n发件人: 客服"));
    assert_eq!(inbound.from.address, "li.si@example.com");
    assert_eq!(inbound.date, utc("2026-11-23T03:05:11Z"));
    assert_eq!(
        inbound.message_id,
        "TYZPR06MB5123ABCDEF0123456789ABCDEF@TYZPR06MB5123.apcprd06.prod.outlook.com"
    );
}

#[test]
fn gb18030_rfc2231_attachment_names() {
    let inbound = fixture("attachment-gb18030-name.eml");
    assert_eq!(inbound.subject, "请开具十一月发票");
    assert_eq!(inbound.text, "您好，十一月的发票见附件，请核对。");
    let names: Vec<_> = inbound
        .attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    // The second name is split over three continuations, two of them inside a character.
    assert_eq!(names, ["发票.pdf", "2026年11月增值税专用发票清单.pdf"]);
    for attachment in &inbound.attachments {
        assert_eq!(attachment.content_type, "application/pdf");
        assert!(attachment.data.starts_with(b"%PDF-1.4\n"));
        assert!(attachment.data.ends_with(b"%%EOF\n"));
        assert_eq!(attachment.size, attachment.data.len() as u64);
    }
}

#[test]
fn missing_message_id_is_synthesised_from_the_raw_hash() {
    let raw = read(&format!("{FIXTURES}/no-message-id.eml"));
    let inbound = parse(&raw).unwrap();
    let sha = hex::encode(Sha256::digest(&raw));
    assert_eq!(inbound.raw_sha256, sha);
    assert_eq!(
        inbound.message_id,
        format!("{sha}@synthetic.supportd.invalid")
    );
    assert!(inbound.message_id_synthetic);
    assert_eq!(inbound.subject, "Cannot print from the 3rd floor");
    assert!(inbound.text.contains("offline since this morning"));
    assert_eq!(inbound.date, utc("2026-12-01T14:00:00Z"));
    assert_eq!(inbound.size, raw.len() as u64);
}

#[test]
fn out_of_office_is_machine_generated() {
    let inbound = fixture("out-of-office.eml");
    assert_eq!(inbound.subject, "自动回复: [SUP-42] 打印机无法连接网络");
    assert!(inbound.text.contains("我正在休假"));
    assert_eq!(inbound.in_reply_to, ["sup-42-1@support.example.com"]);
    let machine = &inbound.machine;
    assert_eq!(machine.auto_submitted.as_deref(), Some("auto-replied"));
    assert!(machine.auto_response_suppress);
    assert!(!machine.dsn);
    assert!(machine.is_machine_generated());
    assert_eq!(
        machine.reasons(),
        [
            "Auto-Submitted: auto-replied",
            "X-Auto-Response-Suppress set"
        ]
    );
}

#[test]
fn dsn_is_flagged_three_ways() {
    let inbound = fixture("dsn.eml");
    assert_eq!(inbound.subject, "Undelivered Mail Returned to Sender");
    assert_eq!(inbound.from.address, "mailer-daemon@mail.example.com");
    assert_eq!(inbound.from.name.as_deref(), Some("Mail Delivery System"));
    assert!(
        inbound
            .text
            .contains("Recipient address rejected: User unknown")
    );
    let machine = &inbound.machine;
    assert!(machine.dsn);
    assert!(machine.empty_return_path);
    assert_eq!(machine.auto_submitted.as_deref(), Some("auto-replied"));
    let types: Vec<_> = inbound
        .attachments
        .iter()
        .map(|a| a.content_type.as_str())
        .collect();
    assert_eq!(types, ["message/delivery-status", "text/rfc822-headers"]);
    // Named after their Content-Description.
    assert_eq!(inbound.attachments[0].name, "Delivery report.txt");
    assert_eq!(
        inbound.attachments[1].name,
        "Undelivered Message Headers.txt"
    );
}

// ---- headers ----------------------------------------------------------------------------

#[test]
fn header_summary_reads_a_header_block() {
    let raw = read(&format!("{FIXTURES}/gb2312.eml"));
    let header_end = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("header end")
        + 2;
    assert_eq!(
        header_summary(&raw[..header_end]),
        HeaderSummary {
            message_id: Some("20261123100000.GB2312.0001@mail.example.com".into()),
            from: Some("customer@example.com".into()),
            subject: Some("打印机无法连接网络".into()),
        }
    );
    let raw = read(&format!("{FIXTURES}/no-message-id.eml"));
    assert_eq!(header_summary(&raw).message_id, None);
    assert_eq!(header_summary(b""), HeaderSummary::default());
    assert_eq!(header_summary(&noise(3, 500)), HeaderSummary::default());
}

#[test]
fn refusal_reasons() {
    assert_eq!(parse(b""), Err(ParseError::Unparsable));
    // mail-parser reads a leading blank line as an empty header block.
    assert_eq!(parse(b"\n\n\n"), Err(ParseError::NoHeaders));
    assert_eq!(mail("X-Foo: bar\n\nbody"), Err(ParseError::NoHeaders));
    assert_eq!(mail("Subject: hi\n\nbody"), Err(ParseError::NoSender));
    assert_eq!(
        mail("From: MAILER-DAEMON\nSubject: hi\n\nx"),
        Err(ParseError::NoSender)
    );
    assert_eq!(
        mail("From: <>\nReturn-Path: <>\n\nx"),
        Err(ParseError::NoSender)
    );
    assert_eq!(
        ParseError::NoSender.to_string(),
        "no From (or Sender/Reply-To/Return-Path) address"
    );
}

#[test]
fn sender_falls_back_in_order() {
    let from = |text: &str| mail(text).unwrap().from.address;
    assert_eq!(
        from("From: A <A@X.com>\nSender: s@x.com\nReply-To: r@x.com\nReturn-Path: <p@x.com>\n\nx"),
        "a@x.com"
    );
    assert_eq!(
        from("From: undisclosed\nSender: S@x.com\nReply-To: r@x.com\n\nx"),
        "s@x.com"
    );
    assert_eq!(
        from("Subject: x\nReply-To: R@x.com\nReturn-Path: <p@x.com>\n\nx"),
        "r@x.com"
    );
    assert_eq!(from("Subject: x\nReturn-Path: <P@X.com>\n\nx"), "p@x.com");
    assert_eq!(from("Subject: x\nReturn-Path: P@X.com\n\nx"), "p@x.com");
}

#[test]
fn message_ids_in_every_shape() {
    let inbound = mail(
        "From: a@x.com\nMessage-ID: < id@x.com >\nIn-Reply-To: <one@x.com>\n\
         References: <r1@x.com>\n <r2@x.com> <r1@x.com>\n\nx",
    )
    .unwrap();
    assert_eq!(inbound.message_id, "id@x.com");
    assert_eq!(inbound.in_reply_to, ["one@x.com"]);
    assert_eq!(inbound.references, ["r1@x.com", "r2@x.com"]);

    // Without brackets, as some webmail sends them.
    let inbound =
        mail("From: a@x.com\nMessage-ID: bare@x.com\nReferences: r1@x.com r2@x.com\n\nx").unwrap();
    assert_eq!(inbound.message_id, "bare@x.com");
    assert_eq!(inbound.references, ["r1@x.com", "r2@x.com"]);

    // Empty and broken ones.
    let inbound = mail("From: a@x.com\nMessage-ID: <  >\nIn-Reply-To: <\n\nx").unwrap();
    assert!(inbound.message_id_synthetic);
    assert!(inbound.message_id.ends_with("@synthetic.supportd.invalid"));
    assert!(inbound.in_reply_to.is_empty());
}

#[test]
fn bracketed_salvages_ids_from_raw_text() {
    assert_eq!(bracketed(" junk <a@b> more <c@d> <e"), ["a@b", "c@d"]);
    assert!(bracketed("none").is_empty());
}

#[test]
fn dates_convert_to_utc_or_are_dropped() {
    let date = |header: &str| {
        mail(&format!("From: a@x.com\nDate: {header}\n\nx"))
            .unwrap()
            .date
    };
    assert_eq!(
        date("Mon, 23 Nov 2026 10:00:00 +0800"),
        utc("2026-11-23T02:00:00Z")
    );
    assert_eq!(
        date("Mon, 23 Nov 2026 10:00:00 -0530"),
        utc("2026-11-23T15:30:00Z")
    );
    assert_eq!(
        date("Mon, 23 Nov 2026 10:00:00 GMT"),
        utc("2026-11-23T10:00:00Z")
    );
    assert_eq!(
        date("23 Nov 2026 10:00:00 +0000 (UTC)"),
        utc("2026-11-23T10:00:00Z")
    );
    assert_eq!(date("Mon, 32 Foo 2026 99:99:99 +9999"), None);
    assert_eq!(date("Tue, 31 Feb 2026 10:00:00 +0000"), None);
    assert_eq!(date("Tue, 1 Dec 99999 10:00:00 +0800"), None);
    assert_eq!(date("yesterday"), None);
    assert_eq!(mail("From: a@x.com\n\nx").unwrap().date, None);
}

#[test]
fn subject_is_decoded_and_collapsed() {
    let subject = |text: &str| mail(text).unwrap().subject;
    assert_eq!(
        subject("From: a@x.com\nSubject:  Printer \n\t  broken\n\nx"),
        "Printer broken"
    );
    assert_eq!(
        subject("From: a@x.com\nSubject: =?UTF-8?B?5omT5Y2w5py6?=\n =?UTF-8?B?5Z2P5LqG?=\n\nx"),
        "打印机坏了"
    );
    assert_eq!(subject("From: a@x.com\n\nx"), "");
}

#[test]
fn raw_8bit_gbk_headers_are_recovered() {
    // Declared body charset.
    let mut raw = b"From: \xd5\xc5\xc8\xfd <a@x.com>\r\nSubject: \xb4\xf2\xd3\xa1\xbb\xfa\xbb\xb5\xc1\xcb\r\n\
          Content-Type: text/plain; charset=GBK\r\n\r\n\xb4\xf2\xd3\xa1\xbb\xfa\r\n"
        .to_vec();
    let inbound = parse(&raw).unwrap();
    assert_eq!(inbound.subject, "打印机坏了");
    assert_eq!(inbound.from.name.as_deref(), Some("张三"));
    assert_eq!(inbound.text, "打印机");
    // No charset anywhere: GB18030 is the guess for byte pairs.
    raw = b"From: \xd5\xc5\xc8\xfd <a@x.com>\r\nSubject: \xb4\xf2\xd3\xa1\xbb\xfa\r\n\r\nx\r\n"
        .to_vec();
    let inbound = parse(&raw).unwrap();
    assert_eq!(inbound.subject, "打印机");
    assert_eq!(inbound.from.name.as_deref(), Some("张三"));
}

#[test]
fn addresses_are_lower_cased_and_groups_flattened() {
    let inbound = mail(
        "From: \"Zhang, San\" <Zhang.San@Example.COM>\n\
         To: Support <SUPPORT@example.com>, =?UTF-8?B?5p2O5Zub?= <li@example.com>\n\
         Cc: Team: a@x.com, B <b@x.com>;, c@x.com\n\
         Reply-To: Undisclosed recipients:;\n\nx",
    )
    .unwrap();
    assert_eq!(inbound.from.name.as_deref(), Some("Zhang, San"));
    assert_eq!(inbound.from.address, "zhang.san@example.com");
    let to: Vec<_> = inbound
        .to
        .iter()
        .map(|m| (m.name.as_deref(), m.address.as_str()))
        .collect();
    assert_eq!(
        to,
        [
            (Some("Support"), "support@example.com"),
            (Some("李四"), "li@example.com")
        ]
    );
    let cc: Vec<_> = inbound.cc.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(cc, ["a@x.com", "b@x.com", "c@x.com"]);
    assert!(inbound.reply_to.is_empty());
}

#[test]
fn machine_flags_from_headers() {
    let flags = |headers: &str| {
        mail(&format!("From: a@x.com\n{headers}\n\nx"))
            .unwrap()
            .machine
    };

    assert_eq!(flags("Auto-Submitted: no").auto_submitted, None);
    assert_eq!(flags("Auto-Submitted: No (human)").auto_submitted, None);
    assert_eq!(
        flags("Auto-Submitted: Auto-Generated; owner-email=\"x@example.com\"").auto_submitted,
        Some("auto-generated".into())
    );
    assert_eq!(flags("Precedence: Bulk").precedence, Some("bulk".into()));
    assert_eq!(flags("X-Precedence: junk").precedence, Some("junk".into()));
    assert_eq!(
        flags("Precedence: auto_reply").precedence,
        Some("auto_reply".into())
    );
    assert_eq!(flags("Precedence: first-class").precedence, None);
    for header in X_AUTOREPLY_HEADERS {
        assert!(flags(&format!("{header}: yes")).x_autoreply, "{header}");
        assert!(!flags(&format!("{header}: No")).x_autoreply, "{header}");
    }
    assert!(flags("X-Auto-Response-Suppress: All").auto_response_suppress);
    assert!(flags("X-Auto-Response-Suppress: DR, OOF, AutoReply").auto_response_suppress);
    assert!(!flags("X-Auto-Response-Suppress: None").auto_response_suppress);
    assert!(flags("List-Id: Users <users.lists.example.com>").list);
    assert!(flags("List-Unsubscribe: <mailto:leave@lists.example.com>").list);
    assert!(flags("Return-Path: <>").empty_return_path);
    assert!(flags("Return-Path: < >").empty_return_path);
    assert!(!flags("Return-Path: <a@x.com>").empty_return_path);
    assert!(
        flags("Content-Type: multipart/report; report-type=disposition-notification; boundary=b")
            .dsn
    );

    let human = flags("Subject: hello");
    assert!(!human.is_machine_generated());
    assert!(human.reasons().is_empty());

    let postmaster = mail("From: PostMaster@x.com\n\nx").unwrap().machine;
    assert!(postmaster.dsn);
    assert_eq!(postmaster.reasons(), ["delivery status notification"]);

    let all = flags(
        "Auto-Submitted: auto-generated\nPrecedence: list\nX-Autoreply: yes\n\
         X-Auto-Response-Suppress: All\nList-Id: <l.x.com>\nReturn-Path: <>",
    );
    assert_eq!(
        all.reasons(),
        [
            "Auto-Submitted: auto-generated",
            "Precedence: list",
            "X-Autoreply header present",
            "X-Auto-Response-Suppress set",
            "mailing list (List-Id/List-Unsubscribe)",
            "Return-Path: <> (bounce)",
        ]
    );
}

// ---- bodies and attachments -------------------------------------------------------------

#[test]
fn text_is_normalised() {
    let inbound =
        parse(b"From: a@x.com\r\n\r\n\xef\xbb\xbfline one\r\nline two  \r\n\r\n \r\n").unwrap();
    assert_eq!(inbound.text, "line one\nline two");
    assert_eq!(inbound.reply_text, "line one\nline two");
}

#[test]
fn reply_text_strips_the_quote() {
    let inbound = mail(
        "From: a@x.com\n\nThanks, fixed.\n\nOn Mon, 23 Nov 2026 at 10:00, Support <s@x.com> wrote:\n> old\n",
    )
    .unwrap();
    assert_eq!(inbound.reply_text, "Thanks, fixed.");
    assert!(inbound.text.ends_with("> old"));
}

#[test]
fn several_text_parts_are_concatenated_and_are_not_attachments() {
    let inbound = mail(
        "From: a@x.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\
         Content-Type: text/plain; charset=utf-8\n\nfirst\n--b\n\
         Content-Type: text/plain; charset=big5\nContent-Transfer-Encoding: base64\n\n\
         pECkRw==\n--b\nContent-Type: Application/PDF\n\
         Content-Disposition: attachment; filename=\"../../etc/passwd\"\n\n%PDF\n--b--\n",
    )
    .unwrap();
    assert_eq!(inbound.text, "first\n\n[part 2]\n\n一二");
    assert_eq!(inbound.attachments.len(), 1);
    let pdf = &inbound.attachments[0];
    assert_eq!(pdf.content_type, "application/pdf");
    assert_eq!(pdf.name, ".._.._etc_passwd");
}

#[test]
fn attachments_without_names_or_types_get_defaults() {
    let inbound = mail(
        "From: a@x.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nbody\n--b\n\
         Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n\
         AAEC\n--b\nContent-Type: message/rfc822\n\nFrom: c@x.com\nSubject: Inner / one\n\ninner\n--b\n\
         Content-Type: message/rfc822\n\nFrom: d@x.com\n\nno subject\n--b--\n",
    )
    .unwrap();
    assert_eq!(inbound.text, "body");
    let summary: Vec<_> = inbound
        .attachments
        .iter()
        .map(|a| (a.name.as_str(), a.content_type.as_str(), a.size))
        .collect();
    assert_eq!(
        summary,
        [
            ("attachment.bin", "application/octet-stream", 3),
            ("Inner _ one.eml", "message/rfc822", 44),
            ("message.eml", "message/rfc822", 27),
        ]
    );
    assert_eq!(inbound.attachments[0].data, [0, 1, 2]);
    assert!(
        inbound.attachments[1]
            .data
            .starts_with(b"From: c@x.com\r\n")
    );
}

#[test]
fn blank_text_part_falls_back_to_html() {
    let inbound = mail(
        "From: a@x.com\nContent-Type: multipart/alternative; boundary=b\n\n--b\n\
         Content-Type: text/plain\n\n \n--b\nContent-Type: text/html; charset=utf-8\n\n\
         <p>Hello&nbsp;<b>world</b></p>\n--b--\n",
    )
    .unwrap();
    assert!(inbound.from_html);
    assert!(inbound.text.contains("Hello"), "{}", inbound.text);
    assert!(inbound.text.contains("world"));

    // Both empty: nothing to convert, and nothing claims to come from HTML.
    let inbound = mail(
        "From: a@x.com\nContent-Type: multipart/alternative; boundary=b\n\n--b\n\
         Content-Type: text/plain\n\n\n--b\nContent-Type: text/html\n\n\n--b--\n",
    )
    .unwrap();
    assert!(!inbound.from_html);
    assert_eq!(inbound.text, "");
}

#[test]
fn rfc2231_parameters() {
    let name = |header: &str| rfc2231_param(header, "filename");
    assert_eq!(name("attachment; filename=plain.txt"), None);
    assert_eq!(
        name("attachment; filename*=UTF-8''%E5%8F%91%E7%A5%A8.pdf"),
        Some("发票.pdf".into())
    );
    assert_eq!(
        name("attachment;\r\n filename*1=\"b c.txt\";\r\n filename*0=\"a \""),
        Some("a b c.txt".into())
    );
    assert_eq!(
        name("attachment; filename*0*=us-ascii'en'100%25; filename*1=%zz"),
        Some("100%%zz".into())
    );
    // Garbage must not panic.
    for header in [
        "",
        ";",
        "a;=;=",
        "x; filename*",
        "x; filename*=%",
        "x; filename*0*=\"unterminated",
    ] {
        let _ = name(header);
    }
    assert_eq!(percent_decode(b"%41%4g%+1%"), b"A%4g%+1%");
}

#[test]
fn file_names_are_made_safe() {
    assert_eq!(clean_file_name(" a/b\\c\u{1b}d.txt "), "a_b_c_d.txt");
    assert_eq!(clean_file_name(".."), "");
    assert_eq!(clean_file_name("a\r\n b.pdf"), "a b.pdf");
    assert_eq!(
        clean_file_name(&"长".repeat(500)).chars().count(),
        MAX_NAME_CHARS
    );
}

// ---- hostile input ----------------------------------------------------------------------

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn assert_no_panic(raw: &[u8], what: &str) {
    if let Err(ParseError::Internal) = parse(raw) {
        panic!("{what}: a parser panicked");
    }
}

#[test]
fn binary_garbage_never_panics() {
    for seed in 1..200 {
        assert_no_panic(&noise(seed, (seed as usize * 37) % 4096), "noise");
    }
    // Garbage after a plausible header, and a header line with no end.
    let mut raw =
        b"From: a@x.com\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n".to_vec();
    raw.extend(noise(7, 10_000));
    assert_no_panic(&raw, "garbage body");
    assert_no_panic(b"From: a@x.com", "no newline");
    assert_no_panic(&[0xff; 1000], "all 0xff");
    assert_no_panic(&[0; 1000], "all NUL");
}

#[test]
fn every_truncation_of_every_fixture_is_handled() {
    for (_, raw) in crate::fixtures::files(FIXTURES) {
        for end in (0..raw.len()).step_by(7) {
            assert_no_panic(&raw[..end], "truncated fixture");
        }
    }
}

#[test]
fn absurd_nesting_is_handled() {
    const DEPTH: usize = 5_000;
    let mut raw = String::from("From: a@x.com\r\nSubject: deep\r\n");
    for level in 0..DEPTH {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\ncore\r\n");
    for level in (0..DEPTH).rev() {
        raw.push_str(&format!("--b{level}--\r\n"));
    }
    assert_no_panic(raw.as_bytes(), "nested multiparts");

    let mut raw = String::from("From: a@x.com\r\nSubject: deep\r\n");
    raw.push_str(&"Content-Type: message/rfc822\r\n\r\nFrom: b@x.com\r\n".repeat(DEPTH));
    raw.push_str("\r\ncore\r\n");
    assert_no_panic(raw.as_bytes(), "nested messages");

    let mut raw = String::from("From: a@x.com\r\nSubject: deep\r\n");
    raw.push_str(
        &"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n".repeat(50),
    );
    assert_no_panic(raw.as_bytes(), "nested encoded messages");
}

#[test]
fn deeply_nested_html_does_not_overflow_the_stack() {
    for tag in ["div", "blockquote", "ul><li", "table><tr><td"] {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let html = format!("{}deep text{}", open.repeat(20_000), close.repeat(20_000));
        let raw = format!("From: a@x.com\r\nContent-Type: text/html\r\n\r\n{html}\r\n");
        // Run on a thread with the stack size tokio gives its workers (2 MiB).
        let inbound = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || parse(raw.as_bytes()))
            .expect("thread")
            .join()
            .expect("no stack overflow");
        let inbound = inbound.unwrap_or_else(|e| panic!("{tag}: {e}"));
        assert!(inbound.text.contains("deep text"), "{tag}");
    }
}

#[test]
fn large_mail_parses() {
    // 25 MB: a base64 attachment of ~18 MB plus a long text body.
    let payload = noise(42, 18 * 1024 * 1024);
    let mut raw = String::from(
        "From: a@x.com\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\n",
    );
    raw.push_str(&"Lots of text in the body.\r\n".repeat(20_000));
    raw.push_str(
        "--b\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    let encoded = base64_lines(&payload);
    raw.push_str(&encoded);
    raw.push_str("--b--\r\n");
    assert!(raw.len() > 25_000_000);
    let inbound = parse(raw.as_bytes()).unwrap();
    assert_eq!(inbound.attachments.len(), 1);
    assert_eq!(inbound.attachments[0].data, payload);
    assert_eq!(inbound.text.lines().count(), 20_000);
}

/// Minimal base64 with 76-column lines, to build the large test mail without a dependency.
fn base64_lines(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 38 + 8);
    for (i, chunk) in data.chunks(3).enumerate() {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (j, &b)| n | (u32::from(b) << (16 - 8 * j)));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
        if (i + 1) % 19 == 0 {
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out
}

/// The parse splits the quoted history once and keeps the split: the reply text comes from it,
/// and the desk reads an agent's commands and answer from the same one.
#[test]
fn the_quote_split_is_made_once_and_kept() {
    let m = mail(
        "From: a@example.org\nTo: s@example.com\nSubject: Re: x\nMessage-ID: <q@x>\n\n\
         #resolve\nDone.\n\nOn Mon, 1 Jan 2024, Wang Wu wrote:\n> It is broken.\n",
    )
    .unwrap();
    let kept = m.quote.get().expect("split by the parse");
    assert_eq!(*kept, crate::mail::quote::split(&m.text));
    assert!(std::ptr::eq(kept, m.split()));
    assert_eq!(m.reply_text, "#resolve\nDone.");
    // Derived from the text: a copy compares equal whether or not it was split yet.
    let mut fresh = m.clone();
    fresh.quote = Default::default();
    assert_eq!(fresh, m);
}
