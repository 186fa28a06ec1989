#!/usr/bin/env python3
"""Writes the mails of this folder: each rebuilds, with our own words, the MIME shape of a
Zammad parser fixture (test/data/mail/mailNNN.box, AGPL-3.0) that showed a defect; none of
Zammad's text is copied. Run it after changing a mail here: python3 build.py"""
import base64, pathlib, quopri

HERE = pathlib.Path(__file__).parent
# A 1x1 GIF and a tiny PNG header: real enough for a type, small enough to read.
GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"screenshot" * 20
JPG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + b"photo" * 40


def b64(data: bytes) -> bytes:
    text = base64.b64encode(data)
    return b"\r\n".join(text[i:i + 76] for i in range(0, len(text), 76)) + b"\r\n"


def write(name: str, *lines: bytes) -> None:
    (HERE / name).write_bytes(b"".join(lines))


HEAD = (b"From: Zhang San <zhang@customer.example>\r\nTo: support@example.com\r\n"
        b"Date: Mon, 23 Nov 2026 10:00:00 +0800\r\nMIME-Version: 1.0\r\n")

# mail102: two screenshots embedded in the HTML (multipart/related with Content-ID).
write("inline-screenshots.eml", HEAD,
      b"Message-ID: <shots@customer.example>\r\nSubject: =?UTF-8?B?5oiq5Zu+?=\r\n",
      b"Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n",
      b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
      "后台报错，见截图：\r\n\r\n[image: shot1.png]\r\n\r\n[image: shot2.png]\r\n".encode(),
      b"--alt\r\nContent-Type: multipart/related; boundary=\"rel\"; type=\"text/html\"\r\n\r\n",
      b"--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n",
      "<p>后台报错，见截图：</p><p><img src=\"cid:shot1@customer.example\"></p>"
      "<p><img src=\"cid:shot2@customer.example\" alt=\"\"></p>\r\n".encode(),
      b"--rel\r\nContent-Type: image/png; name=\"shot1.png\"\r\nContent-Transfer-Encoding: base64\r\n"
      b"Content-ID: <shot1@customer.example>\r\nContent-Disposition: inline; filename=\"shot1.png\"\r\n\r\n",
      b64(PNG),
      b"--rel\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
      b"Content-ID: <shot2@customer.example>\r\n\r\n",
      b64(PNG + b"2"),
      b"--rel--\r\n--alt--\r\n")

# mail088: a mail that is only a JPEG.
write("only-a-photo.eml", HEAD,
      b"Message-ID: <photo@customer.example>\r\nSubject: photo\r\n",
      b"Content-Type: image/jpeg; name=\"IMG_0042.JPG\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
      b64(JPG))

# mail111: the message in HTML, a plain-text signature part after it.
write("html-then-plain-signature.eml", HEAD,
      b"Message-ID: <sig@customer.example>\r\nSubject: HTML with a text signature\r\n",
      b"Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n",
      b"--mix\r\nContent-Type: text/html; charset=utf-8\r\n\r\n",
      b"<html><body><h1>The checkout page shows error 500</h1></body></html>\r\n",
      b"--mix\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
      b"Zhang San, Example Shop\r\n",
      b"--mix--\r\n")

# mail112: HTML, plain, HTML (signature).
write("html-plain-html.eml", HEAD,
      b"Message-ID: <three@customer.example>\r\nSubject: three parts\r\n",
      b"Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n",
      b"--mix\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>first part in html</p>\r\n",
      b"--mix\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsecond part in plain text\r\n",
      b"--mix\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>third part, a signature</p>\r\n",
      b"--mix--\r\n")

# mail046: raw 8-bit GBK subject and name, while the first part declares ISO-8859-1.
write("raw-gbk-subject-latin1-part.eml",
      b"From: ", "武兰成".encode("gbk"), b" <wu@customer.example>\r\nTo: support@example.com\r\n",
      b"Date: Mon, 23 Nov 2026 10:00:00 +0800\r\nMessage-ID: <gbk-subject@customer.example>\r\n",
      b"Subject: ", "转发：整体提升企业服务水平".encode("gbk"), b"\r\nMIME-Version: 1.0\r\n",
      b"Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n",
      b"--mix\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nPlease see below.\r\n",
      b"--mix\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n", "请查看附件。".encode("gbk"), b"\r\n",
      b"--mix--\r\n")

# mail093: raw Shift_JIS subject; display name in an encoded-word that says ISO-2022-JP but
# holds Shift_JIS; the body declares iso-2022-jp.
name = base64.b64encode("ツール EXAMPLE".encode("shift_jis")).decode()
write("sjis-raw-subject-lying-word.eml",
      f"From: =?ISO-2022-JP?B?{name}?= <bar@example.org>\r\n".encode(),
      b"To: support@example.com\r\nDate: Mon, 23 Nov 2026 10:00:00 +0900\r\n",
      b"Message-ID: <sjis@example.org>\r\nSubject: ", "ツール".encode("shift_jis"), b"\r\n",
      b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n",
      "よろしくお願いします。".encode("iso-2022-jp"), b"\r\n")

# mail015 (raw GBK file name) and mail057 (raw Latin-1 file name).
write("raw-8bit-file-names.eml", HEAD,
      b"Message-ID: <names@customer.example>\r\nSubject: files\r\n",
      b"Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n",
      b"--mix\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n", "附件是报价单。".encode("gbk"), b"\r\n",
      b"--mix\r\nContent-Type: application/msword; name=\"", "报价单.doc".encode("gbk"), b"\"\r\n"
      b"Content-Disposition: attachment; filename=\"", "报价单.doc".encode("gbk"), b"\"\r\n"
      b"Content-Transfer-Encoding: base64\r\n\r\n", b64(b"doc bytes"),
      b"--mix\r\nContent-Type: application/pdf\r\n"
      b"Content-Disposition: attachment; filename=\"", "Überweisung März.pdf".encode("latin-1"), b"\"\r\n"
      b"Content-Transfer-Encoding: base64\r\n\r\n", b64(b"%PDF-1.4"),
      b"--mix--\r\n")

# mail116: ISO-2022-JP without charset=.
write("iso2022jp-undeclared.eml",
      b"From: yamada@customer.example\r\nTo: support@example.com\r\n",
      b"Date: Mon, 23 Nov 2026 10:00:00 +0900\r\nMessage-ID: <jis@customer.example>\r\n",
      b"Subject: =?ISO-2022-JP?B?", base64.b64encode("お問い合わせ".encode("iso-2022-jp")), b"?=\r\n",
      b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n",
      "サーバーに接続できません。\r\n確認をお願いします。".encode("iso-2022-jp"), b"\r\n")

# mail023: GBK without charset=.
write("gbk-undeclared.eml",
      b"From: li@customer.example\r\nTo: support@example.com\r\n",
      b"Date: Mon, 23 Nov 2026 10:00:00 +0800\r\nMessage-ID: <gbk-body@customer.example>\r\n",
      b"Subject: =?GBK?B?", base64.b64encode("网站打不开".encode("gbk")), b"?=\r\n",
      b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
      "您好，我们的网站从今天早上开始打不开，显示502错误。请尽快处理，谢谢！".encode("gbk"), b"\r\n")

# mail078: a bounce whose multipart/alternative is never terminated.
qp = quopri.encodestring("Die Nachricht konnte nicht zugestellt werden: Empfänger unbekannt.\r\n".encode()).replace(b"\n", b"\r\n")
write("bounce-unterminated-alternative.eml",
      b"From: Mail Delivery Subsystem <mailer-daemon@mx.example.net>\r\nTo: support@example.com\r\n",
      b"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\nMessage-ID: <bounce@mx.example.net>\r\n",
      b"Subject: Delivery Status Notification (Failure)\r\nMIME-Version: 1.0\r\n",
      b"Content-Type: multipart/report; boundary=\"outer\"; report-type=delivery-status\r\n\r\n",
      b"--outer\r\nContent-Type: multipart/related; boundary=\"related\"\r\n\r\n",
      b"--related\r\nContent-Type: multipart/alternative; boundary=\"alternative\"\r\n\r\n",
      b"--alternative\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n",
      b"Content-Transfer-Encoding: quoted-printable\r\n\r\n", qp, b"\r\n",
      b"--outer\r\nContent-Type: message/delivery-status\r\n\r\n",
      b"Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; nobody@example.org\r\n"
      b"Action: failed\r\nStatus: 5.1.1\r\n\r\n",
      b"--outer\r\nContent-Type: message/rfc822\r\n\r\n",
      b"From: support@example.com\r\nTo: nobody@example.org\r\nSubject: Re: [SUP-7] your ticket\r\n"
      b"Message-ID: <sent-7@example.com>\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nHello.\r\n",
      b"--outer--\r\n")

# mail047: HTML-only newsletter laid out in tables with borders and rules.
rows = "".join(
    f"<tr><td style=\"border:1px solid #ccc;padding:8px\">Item {i}</td>"
    f"<td style=\"border:1px solid #ccc\"><a href=\"https://shop.example/item/{i}\">details</a></td></tr>"
    for i in range(1, 6))
write("html-table-layout.eml", HEAD,
      b"Message-ID: <layout@customer.example>\r\nSubject: order overview\r\n",
      b"Content-Type: text/html; charset=utf-8\r\n\r\n",
      ("<html><head><style>td {color: red}</style></head><body>"
       "<table width=\"600\" border=\"1\" cellpadding=\"10\"><tr><td><h2>Your order</h2>"
       "<hr><p>Hello,<br>your order has shipped.</p>"
       f"<table border=\"1\">{rows}</table>"
       "<p><img src=\"https://cdn.example/logo.png\" alt=\"Example Shop\"> "
       "<img src=\"https://t.example/p.gif\" width=\"1\" height=\"1\"></p>"
       "<p style=\"display:none\">preheader you never see</p>"
       "<p>Questions? <a href=\"mailto:help@shop.example\">Write to us</a> or visit "
       "<a href=\"https://shop.example/\">https://shop.example/</a>.</p>"
       "</td></tr></table></body></html>\r\n").encode())

# Unnamed parts: names from type, description, attached subject.
write("unnamed-parts.eml", HEAD,
      b"Message-ID: <unnamed@customer.example>\r\nSubject: unnamed\r\n",
      b"Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n",
      b"--mix\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n",
      b"--mix\r\nContent-Type: image/gif\r\nContent-Disposition: attachment\r\n"
      b"Content-Transfer-Encoding: base64\r\n\r\n", b64(GIF),
      b"--mix\r\nContent-Type: image/gif\r\nContent-Disposition: attachment\r\n"
      b"Content-Transfer-Encoding: base64\r\n\r\n", b64(GIF + b"x"),
      b"--mix\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n",
      b"--mix\r\nContent-Type: application/octet-stream\r\nContent-Description: Server log\r\n\r\nlog\r\n",
      b"--mix\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@x.example\r\nSubject: =?UTF-8?B?5Y6f5aeL6YKu5Lu2?=\r\n\r\nold\r\n",
      b"--mix--\r\n")
