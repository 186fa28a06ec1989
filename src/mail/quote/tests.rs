//! The quote rules on small hand-written replies; the corpus is `corpus.rs`.

use super::*;

fn check(input: &str, want: &str) {
    assert_eq!(strip(input), want, "input:\n{input}");
}

#[test]
fn outlook_english() {
    check(
        "Still broken.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nold",
        "Still broken.",
    );
    check(
        "Still broken.\n\nFrom: Support <support@example.com>\nSent: Monday, November 23, 2026 10:00 AM\nTo: Zhang San\nSubject: RE: x\n\nold",
        "Still broken.",
    );
    check(
        "Still broken.\n\n________________________________\nFrom: Support <support@example.com>\nSent: Monday\nTo: me\n\nold",
        "Still broken.",
    );
    check(
        "Still broken.\n\n________________________________\n\n**From:** Support\n**Sent:** Monday\n\nold",
        "Still broken.",
    );
    // A long From: line wrapped by the client.
    check(
        "ok\nFrom: Support Team of a very long name\n<support@example.com>\nDate: today\nold",
        "ok",
    );
}

#[test]
fn outlook_chinese() {
    check(
        "还是不行。\n\n-----原始邮件-----\n发件人: 客服\n发送时间: 2026年11月23日\n旧内容",
        "还是不行。",
    );
    check("还是不行。\n\n----- 原始邮件 -----\n旧内容", "还是不行。");
    check(
        "还是不行。\n\n－－－－－原始邮件－－－－－\n旧内容",
        "还是不行。",
    );
    check("还是不行。\n\n—————原始郵件—————\n旧内容", "还是不行。");
    check(
        "还是不行。\n\n发件人: 客服 <support@example.com>\n发送时间: 2026年11月23日 10:00\n收件人: 张三\n主题: 回复: 打印机\n\n旧内容",
        "还是不行。",
    );
    check(
        "还是不行。\n\n发件人：客服\n日期：2026年11月23日\n旧内容",
        "还是不行。",
    );
    check(
        "还是不行。\n\n发件人：客服\n\n\n时间：2026年11月23日\n旧内容",
        "还是不行。",
    );
}

#[test]
fn foxmail_and_qq() {
    check(
        "收到，谢谢\n\n\n------------------ 原始邮件 ------------------\n发件人: \"客服\"<support@example.com>;\n旧内容",
        "收到，谢谢",
    );
    check(
        "ok\n------------------ Original ------------------\nFrom: x\nold",
        "ok",
    );
    check(
        "ok\n------------------&nbsp;原始邮件&nbsp;------------------\nold",
        "ok",
    );
    check("ok\n---\u{a0}原始邮件\u{a0}---\nold", "ok");
}

#[test]
fn netease() {
    check(
        "好的\n\n在 2026-11-23 10:00:00，\"张三\" <z@163.com> 写道：\n> 旧内容",
        "好的",
    );
    check("好的\n--- 原始邮件 ---\n旧内容", "好的");
    check("好的\n---- 回复的原邮件 ----\n旧内容", "好的");
}

#[test]
fn gmail_and_apple_english() {
    check(
        "Thanks!\n\nOn Mon, 23 Nov 2026 at 10:00, Zhang San <z@x.com> wrote:\n> old",
        "Thanks!",
    );
    check(
        "Thanks!\n\nOn Mon, 23 Nov 2026 at 10:00, Zhang San <z@x.com>\nwrote:\n\n> old",
        "Thanks!",
    );
    check(
        "Thanks!\n\nOn 23 Nov 2026, at 10:00, Name <x@y> wrote:\n\nold unquoted",
        "Thanks!",
    );
    check(
        "Thanks!\n> On 23 Nov 2026, Name wrote:\n> > old\n",
        "Thanks!",
    );
}

#[test]
fn chinese_attributions() {
    check(
        "好的\n\n在 2026年11月23日 10:00，张三 <z@x.com> 写道：\n旧内容",
        "好的",
    );
    check(
        "好的\n\n在 2026年11月23日 10:00, 张三 <z@x.com> 写道:\n旧内容",
        "好的",
    );
    check(
        "好的\n\n在 2026年11月23日 10:00，张三 <z@x.com>\n写道：\n旧内容",
        "好的",
    );
    check(
        "好的\n\n张三 <z@x.com> 于2026年11月23日 周一 10:00写道：\n旧内容",
        "好的",
    );
    check(
        "好的\n\n张三 <z@x.com> 于2026年11月23日周一\n10:00写道：\n旧内容",
        "好的",
    );
}

#[test]
fn trailing_angle_quote_block() {
    check(
        "Fine now.\n\nBob said:\n> it broke\n> again\n\n",
        "Fine now.",
    );
    check("Fine now.\n\n> it broke\n>\n> again", "Fine now.");
    // Inline replies keep their quoted context; only the trailing block goes.
    check(
        "> question one\nanswer one\n> question two\nanswer two",
        "> question one\nanswer one\n> question two\nanswer two",
    );
    check(
        "> question one\nanswer one\n\n> rest of the mail\n> more",
        "> question one\nanswer one",
    );
}

#[test]
fn first_marker_wins_and_trailing_quote_after_it_is_irrelevant() {
    check(
        "new\n-----Original Message-----\nFrom: a\nSent: b\n> older\n",
        "new",
    );
    check("new\n> quoted\n-----Original Message-----\nold", "new");
}

#[test]
fn all_quote_returns_original_trimmed() {
    check(
        "\n\n-----Original Message-----\nold\n  \n",
        "-----Original Message-----\nold",
    );
    check("> only a quote\n> here\n", "> only a quote\n> here");
    check("", "");
    check("  \n\n", "");
}

#[test]
fn keeps_ordinary_text() {
    for text in [
        "On Monday the printer broke.\nIt still does.",
        "On that point, my boss wrote:\nwe need it fixed",
        "From: the second floor.\nPlease help.",
        "鲁迅写道：\n人生得一知己足矣",
        "在我看来，他写道：\n这是问题",
        "The attachment is from: accounting\nThanks",
        "---\nnot a marker\n---",
        "-- \nZhang San\nACME",
        "  indented first line\nsecond",
        "On 5 machines the app crashes.\nMy colleague wrote:\nit is the driver",
    ] {
        check(text, text);
    }
}

#[test]
fn trims_and_normalises_line_ends() {
    check("\n\nhello  \r\nworld\r\n\r\n", "hello  \nworld");
    check("\r\n\u{3000}\r\nhello\r\n", "hello");
}
