#!/usr/bin/env python3
"""Writes built/*.eml, agent/*.eml, agent/notification-*.txt and expected.toml.

The real mails in real/ are copied byte-exact and never rewritten here; their expectations are
the REAL table at the end of this file, written by reading each mail. Everything else is
generated, deterministically: run `python3 build.py` after editing, then `python3 check.py`.
README.md says which built formats are faithful reproductions and which are approximations.
"""

import base64
import hashlib
import html
import os
import quopri
import re
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
CN = timezone(timedelta(hours=8))
UTC = timezone.utc

# ---- encoding helpers ----------------------------------------------------------------------


def crlf(text):
    """Text with CRLF line ends (the wire form)."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def b64_lines(data, width=76):
    s = base64.b64encode(data).decode("ascii")
    return "\r\n".join(s[i : i + width] for i in range(0, len(s), width)) + "\r\n"


def qp_lines(data):
    # quopri wants LF; it escapes trailing blanks and soft-breaks at 76.
    out = quopri.encodestring(data.replace(b"\r\n", b"\n"), quotetabs=False).decode("ascii")
    out = out.replace("\n", "\r\n")
    return out if out.endswith("\r\n") else out + "\r\n"


def body_bytes(text, charset, cte, line_end="\r\n"):
    """Encode a text part: `cte` is base64, quoted-printable, 8bit or 7bit."""
    text = text.replace("\r\n", "\n")
    if line_end == "\r\n":
        text = text.replace("\n", "\r\n")
    raw = text.encode(charset)
    cte_l = cte.lower()
    if cte_l == "base64":
        return b64_lines(raw)
    if cte_l == "quoted-printable":
        return qp_lines(raw)
    # 8bit / 7bit: the lines as they are, CRLF on the wire
    s = raw.decode(charset)
    return crlf(s if s.endswith("\n") else s + "\n")


def ew(text, charset="UTF-8", enc="B", fold="\n "):
    """RFC 2047 encoded words, split at character boundaries to stay under 76 columns."""
    if all(ord(c) < 128 for c in text):
        return text
    prefix = f"=?{charset}?{enc}?"
    words, cur = [], ""
    for ch in text:
        trial = cur + ch
        n = len(_ew_payload(trial, charset, enc))
        if cur and len(prefix) + n + 2 > 74:
            words.append(cur)
            cur = ch
        else:
            cur = trial
    if cur:
        words.append(cur)
    return fold.join(f"{prefix}{_ew_payload(w, charset, enc)}?=" for w in words)


def _ew_payload(text, charset, enc):
    raw = text.encode(charset)
    if enc.upper() == "B":
        return base64.b64encode(raw).decode("ascii")
    out = []
    for b in raw:
        c = chr(b)
        if c == " ":
            out.append("_")
        elif c.isalnum() and b < 128:
            out.append(c)
        else:
            out.append("=%02X" % b)
    return "".join(out)


def addr(name, address, charset="UTF-8", quote_word=False, enc="B"):
    if not name:
        return address
    if all(ord(c) < 128 for c in name):
        if re.search(r'[(),.:;<>@\[\]"]', name):
            return f'"{name}" <{address}>'
        return f"{name} <{address}>"
    word = ew(name, charset, enc)
    if "\n" in word and not quote_word:
        # a long name: leading ASCII words stay atoms, the rest is encoded
        i = next(i for i, c in enumerate(name) if ord(c) >= 128)
        cut = name.rfind(" ", 0, i)
        if cut > 0:
            return f"{name[:cut]} {ew(name[cut + 1:], charset, enc)} <{address}>"
    return f'"{word}" <{address}>' if quote_word else f"{word} <{address}>"


def rfc_date(dt, comment=None):
    s = dt.strftime("%a, %d %b %Y %H:%M:%S %z")
    return f"{s} ({comment})" if comment else s


def hexid(seed, n, upper=False):
    h = hashlib.sha256(seed.encode()).hexdigest()
    while len(h) < n:
        h += hashlib.sha256(h.encode()).hexdigest()
    return h[:n].upper() if upper else h[:n]


def uuid_like(seed, upper=False):
    h = hexid(seed, 32, upper)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def esc(text):
    return html.escape(text, quote=False)


# ---- MIME assembly ---------------------------------------------------------------------------


class Part:
    """A leaf part: headers (list of lines) and an already-encoded body."""

    def __init__(self, headers, body):
        self.headers = headers
        self.body = body

    def render(self):
        return "\r\n".join(self.headers) + "\r\n\r\n" + self.body


def text_part(text, subtype, charset, cte, ct_fmt=None, extra=()):
    """`ct_fmt` lets a client spell its Content-Type its own way ({sub}, {cs})."""
    fmt = ct_fmt or "Content-Type: text/{sub}; charset={cs}"
    headers = fmt.format(sub=subtype, cs=charset).split("\n")
    headers.append(f"Content-Transfer-Encoding: {cte}")
    headers.extend(extra)
    return Part(headers, body_bytes(text, charset, cte))


class Multi:
    def __init__(self, subtype, boundary, parts, preamble=None, ct_fmt=None, epilogue=""):
        self.subtype = subtype
        self.boundary = boundary
        self.parts = parts
        self.preamble = preamble
        self.ct_fmt = ct_fmt or 'Content-Type: multipart/{sub};\n\tboundary="{b}"'
        self.epilogue = epilogue

    def content_type_lines(self):
        return self.ct_fmt.format(sub=self.subtype, b=self.boundary).split("\n")

    def render_body(self):
        out = []
        if self.preamble is not None:
            out.append(self.preamble + "\r\n\r\n")
        for p in self.parts:
            out.append(f"--{self.boundary}\r\n")
            if isinstance(p, Multi):
                out.append("\r\n".join(p.content_type_lines()) + "\r\n\r\n" + p.render_body())
            else:
                out.append(p.render())
            if not out[-1].endswith("\r\n"):
                out.append("\r\n")
            out.append("\r\n")
        out.append(f"--{self.boundary}--\r\n{self.epilogue}")
        return "".join(out)


def message(headers, body):
    """`headers`: list of header lines (continuations included, '\\n' inside = fold).
    `body`: a Part or a Multi. Returns bytes (headers are ASCII; bodies are already encoded,
    8bit bodies carry their charset's bytes)."""
    lines = []
    for h in headers:
        lines.extend(h.split("\n"))
    if isinstance(body, Multi):
        head = "\r\n".join(lines)
        text = head + "\r\n\r\n" + body.render_body()
    else:
        lines.extend(body.headers)
        text = "\r\n".join(lines) + "\r\n\r\n" + body.body
    return text


def to_bytes(text, charset_8bit=None):
    """Headers and encoded bodies are ASCII; an 8bit body was decoded from its charset, so
    encode the whole message back with that charset."""
    if charset_8bit:
        return text.encode(charset_8bit)
    return text.encode("ascii")


# ---- the conversations being answered -----------------------------------------------------------
#
# Each thread is the support desk's last mail to the customer (`prev`), which the customer's
# reply quotes. `hist` are phrases only that quoted mail contains: a reply text holding one of
# them holds history.


class Thread:
    def __init__(self, key, lang, ticket, subject, cust, sup, prev, hist, date=None, cc=None):
        self.key = key
        self.lang = lang
        self.ticket = ticket
        self.tag = f"[SUP-{ticket}]"
        self.subject = subject
        self.cust = cust  # (name, address)
        self.sup = sup  # (name, address)
        self.prev = prev.strip("\n").split("\n")
        self.hist = hist
        self.date = date or datetime(2025, 4, 29, 11, 32, 10, tzinfo=CN)
        self.cc = cc
        self.prev_subject = f"Re: {self.tag} {subject}"
        self.prev_msgid = f"sup.{ticket}.{hexid(key + 'n', 12)}.{hexid(key + 'm', 24)}@example.com"

    def line(self, needle):
        """Index of the prev line containing `needle`."""
        for i, l in enumerate(self.prev):
            if needle in l:
                return i
        raise KeyError(needle)


SUP_ZH = ("Example 技术支持", "support@example.com")
SUP_TW = ("Example 技術支援", "support@example.com")
SUP_EN = ("Example Support", "support@example.com")

T = {}


def thread(*a, **kw):
    t = Thread(*a, **kw)
    T[t.key] = t
    return t


thread(
    "z1", "zh", 12, "网站打不开，显示 502", ("张三", "zhang.san@customer.example"), SUP_ZH,
    """
张先生，您好：

我们查看了服务器 web-03 的日志，PHP-FPM 进程在 09:02 因内存不足被系统终止，所以网站返回 502。

为了确定原因，请问：
1. 最近是否上线了新的插件或代码？
2. 出现 502 的具体页面地址是哪些？
3. 今晚 22:00 重启服务是否方便？

李娜
Example 技术支持
""",
    ["PHP-FPM 进程在 09:02 因内存不足", "最近是否上线了新的插件", "今晚 22:00 重启服务是否方便"],
    cc=("王芳", "wang.fang@customer.example"),
)
thread(
    "z2", "zh", 15, "发信失败：535 认证失败", ("王芳", "wang.fang@shop.example"), SUP_ZH,
    """
王女士，您好：

您的邮箱 sales@shop.example 发信时提示 535 认证失败，一般是密码修改后客户端里没有同步更新。

请您按下面的步骤检查：
1. 在客户端中重新输入新密码；
2. 确认 SMTP 端口为 465，并勾选 SSL；
3. 如果仍然失败，请把完整的错误截图发给我们。

赵强
Example 技术支持
""",
    ["一般是密码修改后客户端里没有同步更新", "在客户端中重新输入新密码", "请把完整的错误截图发给我们"],
)
thread(
    "z3", "zh", 21, "SSL 证书即将到期", ("陈伟", "chen.wei@agency.example"), SUP_ZH,
    """
陈先生，您好：

域名 agency.example 的 SSL 证书将于 2025年5月3日 到期。我们可以为您自动续期 Let's Encrypt 证书，前提是 DNS 仍然指向我们的服务器。

请回复确认是否续期，以及 DNS 是否有过变动。

周敏
Example 技术支持
""",
    ["的 SSL 证书将于 2025年5月3日 到期", "请回复确认是否续期", "周敏"],
)
thread(
    "z4", "zh", 30, "误删数据，需要恢复备份", ("刘洋", "liu.yang@factory.example"), SUP_ZH,
    """
刘先生，您好：

备份文件 db_20250428.sql.gz 已经找到，大小约 1.2 GB。恢复后，4 月 28 日 03:00 之后写入的数据都会被覆盖。

请确认：
1. 是否恢复到 4 月 28 日 03:00 的状态？
2. 恢复期间网站需要停机约 20 分钟，是否可以接受？

李娜
Example 技术支持
""",
    ["备份文件 db_20250428.sql.gz 已经找到", "是否恢复到 4 月 28 日 03:00 的状态", "网站需要停机约 20 分钟"],
)
thread(
    "z5", "zh-TW", 33, "網站載入很慢", ("林志明", "lin.zhiming@shop.example.tw"), SUP_TW,
    """
林先生您好：

我們檢查了主機 web-07，首頁的圖片沒有壓縮，整頁大小超過 12 MB，所以載入很慢。

建議：
1. 啟用 CDN；
2. 將圖片轉成 WebP 格式。

請問是否需要我們協助設定？

黃雅婷
Example 技術支援
""",
    ["首頁的圖片沒有壓縮", "將圖片轉成 WebP 格式", "請問是否需要我們協助設定"],
)
thread(
    "e1", "en", 40, "Shop shows HTTP 500 after update", ("Tom Baker", "tom@bakery.example"), SUP_EN,
    """
Hi Tom,

We checked web-05: the shop returns HTTP 500 since the WooCommerce update at 08:14 this morning.

Two questions before we fix it:
1. Did you update any other plugins today?
2. May we roll WooCommerce back to version 8.6.1?

Best regards,
Alice Chen
Example Support
""",
    ["since the WooCommerce update at 08:14", "Did you update any other plugins today?", "May we roll WooCommerce back"],
)
thread(
    "e2", "en", 44, "Mail to info@ bounces", ("Maria Lopez", "maria@studio.example"), SUP_EN,
    """
Hello Maria,

The mailbox info@studio.example has reached its 10 GB quota, which is why new mail bounces.

There are two options:
1. We raise the quota to 25 GB (3 EUR per month extra).
2. We archive mail older than two years into a separate folder.

Also, do you still need the old alias office@studio.example?

Kind regards,
Bob Wang
Example Support
""",
    ["has reached its 10 GB quota", "We archive mail older than two years", "Bob Wang"],
)
thread(
    "e3", "en", 48, "DNS records for travel-new.example", ("Kenji Sato", "kenji@travel.example"), SUP_EN,
    """
Hi Kenji,

To point travel-new.example to your site, please create these records at your registrar:

  A      @     203.0.113.25
  CNAME  www   travel-new.example.

Let us know once they are in place and we will issue the certificate.

Cheers,
Alice Chen
Example Support
""",
    ["please create these records at your registrar", "we will issue the certificate", "Cheers,"],
)


# ---- one built mail ------------------------------------------------------------------------------


class Mail:
    """A reply to `t`'s last mail.

    style top/bottom: `new` is the sender's text (signature included).
    style inline: `answers` is [(needle, text)]: each answer goes under the prev line containing
    `needle`; `head` comes before the quote, `tail` after the last answer; `trim_lead` drops the
    quoted lines above the first answered paragraph, `keep_trailing` keeps the quote below the last
    answer (most people leave it).
    """

    def __init__(self, file, client, render, style, t, new=None, answers=(), head=None,
                 tail=None, trim_lead=False, keep_trailing=True, cust=None, lang=None,
                 faithful="reproduction", note="", must_not=(), contains=(), offset=None,
                 **opts):
        self.file = file
        self.client = client
        self.render = render
        self.style = style
        self.t = t
        self.new = new.strip("\n") if new else None
        self.answers = [(t.line(n), a.strip("\n")) for n, a in answers]
        self.head = head.strip("\n") if head else None
        self.tail = tail.strip("\n") if tail else None
        self.trim_lead = trim_lead
        self.keep_trailing = keep_trailing
        self.cust = cust or t.cust
        self.lang = lang or t.lang
        self.faithful = faithful
        self.note = note
        self.extra_must_not = list(must_not)
        self.contains = list(contains)
        self.date = t.date + (offset or timedelta(hours=2, minutes=33, seconds=23))
        self.opts = opts
        self.markers = []  # must-not strings the renderer contributes (separators, attributions)
        self.outcome = None  # agent fixtures only
        self.commands = []
        self.relay_must_not = []
        self.also_ok = []
        self.attachments = []
        self.expect_first = None  # override the derived first/last words
        self.expect_last = None
        self.footer = None  # a client footer the renderer puts after the sender's text

    def subject(self, prefix, dup=False, replace_re=False):
        """The reply's subject. Most clients do not stack English prefixes (Outlook turns `Re:`
        into its own `RE:`); NetEase/Coremail (`Re:Re:`) and the Chinese `回复：` do stack."""
        prev = self.t.prev_subject
        if replace_re and prev.lower().startswith("re: "):
            return prefix + prev[4:]
        if not dup and prefix.strip().lower() == "re:" and prev.lower().startswith("re:"):
            return prefix.strip() + " " + prev[3:].lstrip() if prefix.strip() != "Re:" else prev
        return prefix + prev

    # -- the quoted mail, as the client lays it out ------------------------------------------

    def prev_lines(self):
        return list(self.t.prev)

    def context_region(self):
        """Prev line indices an inline reply may keep: from the start of the first answered
        paragraph to the last answered line."""
        if not self.answers:
            return range(0)
        first = self.answers[0][0]
        while first > 0 and self.t.prev[first - 1].strip():
            first -= 1
        return range(first, self.answers[-1][0] + 1)

    def inline_lines(self, q, blank_between=True):
        """Plain-text inline body: prev lines through `q` (quote one line) with the answers
        interleaved; returns lines (without head/attribution)."""
        out = []
        prev = self.t.prev
        pos = 0
        if self.trim_lead:
            pos = self.context_region().start
        for idx, ans in self.answers:
            out.extend(q(l) for l in prev[pos : idx + 1])
            if blank_between:
                out.append("")
            out.extend(ans.split("\n"))
            if blank_between:
                out.append("")
            pos = idx + 1
        if self.tail:
            out.extend(self.tail.split("\n"))
            out.append("")
        if self.keep_trailing:
            out.extend(q(l) for l in prev[pos:])
        return out

    def html_inline(self, quote_open, quote_close, quoted_html, new_html):
        """HTML inline body: quoted runs wrapped in quote_open/close (each line through
        `quoted_html`), the answers' lines through `new_html`."""
        out = []
        prev = self.t.prev
        pos = self.context_region().start if self.trim_lead else 0
        for idx, ans in self.answers:
            out.append(quote_open + "".join(quoted_html(l) for l in prev[pos : idx + 1]) + quote_close)
            out.append("".join(new_html(l) for l in ans.split("\n")))
            pos = idx + 1
        if self.tail:
            out.append("".join(new_html(l) for l in ["", *self.tail.split("\n")]))
        if self.keep_trailing and pos < len(prev):
            out.append(quote_open + "".join(quoted_html(l) for l in prev[pos:]) + quote_close)
        return "".join(out)

    # -- expectations ------------------------------------------------------------------------

    def new_text(self):
        if self.style == "inline":
            parts = ([self.head] if self.head else []) + [a for _, a in self.answers]
            parts += [self.tail] if self.tail else []
            text = "\n".join(parts)
        else:
            text = self.new or ""
        if self.opts.get("sig") and self.render.__name__ in ("render_mutt", "render_evolution"):
            text += "\n\n-- \n" + self.opts["sig"]
        if self.footer:
            text += "\n\n" + self.footer
        return text

    def expected(self):
        new = self.new_text()
        lines = [l for l in new.split("\n") if l.strip()]
        e = {}
        e["first"] = self.expect_first if self.expect_first is not None else (first_words(lines[0]) if lines else "")
        e["last"] = self.expect_last if self.expect_last is not None else (last_words(lines[-1]) if lines else "")
        e["context"] = [context_words(self.t.prev[i]) for i, _ in self.answers]
        hist = []
        region = self.context_region()
        for phrase in (self.t.hist if self.style != "none" else []):
            i = self.t.line(phrase)
            if self.style == "inline":
                if i in region:
                    continue
                if i < region.start and self.trim_lead:
                    continue
                if self.answers and i > self.answers[-1][0] and not self.keep_trailing:
                    continue
            hist.append(phrase)
        e["must_not"] = dedupe(self.markers + hist + self.extra_must_not)
        e["contains"] = self.contains
        return e


BREAK = " ，。；：！？、）)"


def first_words(line):
    """The line's start, cut after a space or punctuation mark near 24 characters."""
    line = line.strip()
    if len(line) <= 30:
        return line
    cuts = [i for i in range(10, 31) if line[i - 1] in BREAK]
    return line[: cuts[-1] if cuts else 24].rstrip()


def last_words(line):
    """The line's end, starting after a space or punctuation mark near 24 characters from it."""
    line = line.strip()
    if len(line) <= 30:
        return line
    n = len(line)
    cuts = [i for i in range(n - 30, n - 10) if line[i] in BREAK]
    return line[cuts[0] + 1 if cuts else n - 24 :].lstrip()


def context_words(line):
    line = line.strip().lstrip(">").strip()
    return line if len(line) <= 40 else line[:32]


def dedupe(xs):
    out = []
    for x in xs:
        if x and x not in out:
            out.append(x)
    return out


def lines_html_divs(lines):
    return "".join(f"<div>{esc(l)}</div>" if l.strip() else "<div><br></div>" for l in lines)


def zh_weekday(dt):
    return "一二三四五六日"[dt.weekday()]


def zh_ampm(dt):
    h = dt.hour
    label = "凌晨" if h < 6 else "上午" if h < 12 else "中午" if h < 13 else "下午" if h < 18 else "晚上"
    h12 = h if h <= 12 else h - 12
    return f"{label}{h12}:{dt.minute:02d}"


def en_date_long(dt):
    return dt.strftime("%A, %B ") + str(dt.day) + dt.strftime(", %Y ") + en_time12(dt)


def en_time12(dt):
    h = dt.hour % 12 or 12
    return f"{h}:{dt.minute:02d} {'AM' if dt.hour < 12 else 'PM'}"


# ---- clients ----------------------------------------------------------------------------------
#
# A renderer returns (message text, charset of 8bit bodies or None) and appends the strings its
# quote layout adds (separator, attribution, header labels) to m.markers.


def refs(m):
    return [f"In-Reply-To: <{m.t.prev_msgid}>", f"References: <{m.t.prev_msgid}>"]


def seed(m, what=""):
    return m.file + what


# -- Tencent: QQ Mail, Exmail, Foxmail -------------------------------------------------------------


def qq_boundary(m):
    h = hexid(seed(m, "b"), 24, upper=True)
    return f"----=_NextPart_{h[:8]}_{h[8:16]}_{h[16:]}"


def qq_headers(m, subject_prefix, charset, ctype, exmail=False):
    t = m.t
    s = seed(m)
    hs = [
        f"X-QQ-FEAT: {base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()[:40]}",
        "X-QQ-SSF: 0000000000000060" if not exmail else "X-QQ-SSF: 00400000000000F0",
        "X-QQ-BUSINESS-ORIGIN: 2",
        "X-Originating-IP: 117.136.75.97",
        f"In-Reply-To: <{t.prev_msgid}>",
        f"References: <{t.prev_msgid}>",
        "X-QQ-STYLE: ",
        f"X-QQ-mid: {'bizmail' if exmail else 'webmail'}{int(hexid(s, 3), 16)}t{int(m.date.timestamp())}t{int(hexid(s + 'r', 5), 16)}",
        f"From: {addr(m.cust[0], m.cust[1], charset, True)}",
        f"To: {addr(t.sup[0], t.sup[1], charset, True)}",
    ]
    if t.cc and not m.opts.get("no_cc"):
        hs.append(f"Cc: {addr(t.cc[0], t.cc[1], charset, True)}")
    hs += [
        f"Subject: {ew(m.subject(subject_prefix), charset)}",
        "Mime-Version: 1.0",
        ctype,
        "Content-Transfer-Encoding: 8Bit" if "multipart" in ctype else "Content-Transfer-Encoding: base64",
        f"Date: {rfc_date(m.date)}",
        "X-Priority: 3",
        f"Message-ID: <tencent_{hexid(s + 'id', 40, upper=True)}@qq.com>",
        "X-QQ-MIME: TCMime 1.0 by Tencent",
        "X-Mailer: QQMail 2.x",
        "X-QQ-Mailer: QQMail 2.x",
        f"X-QQ-ReplyHash: {int(hexid(s + 'rh', 8), 16)}",
    ]
    if exmail:
        hs.append(f"Feedback-ID: bizesmtp:{m.cust[1].split('@')[1]}:qybglogicsvrgz:qybglogicsvrgz5a-0")
    return hs


def qq_parts_ctype(b):
    return f'Content-Type: multipart/alternative;\n\tboundary="{b}"'


QQ_PART_CT = "Content-Type: text/{sub};\n\tcharset=\"{cs}\""


def qq_header_block_zh(m, quoted_labels=True):
    t = m.t
    to_line = f'"{m.cust[0]}"<{m.cust[1]}>;'
    lines = [
        "------------------ 原始邮件 ------------------",
        f'发件人: "{t.sup[0]}"<{t.sup[1]}>;',
        f"发送时间: {t.date.year}年{t.date.month}月{t.date.day}日(星期{zh_weekday(t.date)}) {zh_ampm(t.date)}",
        f"收件人: {to_line}",
    ]
    if t.cc and not m.opts.get("no_cc"):
        lines.append(f'抄送: "{t.cc[0]}"<{t.cc[1]}>;')
    else:
        lines.append("")
    lines.append(f"主题: {t.prev_subject}")
    return lines


def qq_html_header_zh(m, nbsp_pad=False):
    t = m.t
    pad = " " * 84 if nbsp_pad else ""
    cc = ""
    if t.cc and not m.opts.get("no_cc"):
        cc = f'<div><b>抄送:</b>&nbsp;"{esc(t.cc[0])}"&lt;{t.cc[1]}&gt;;<wbr></div>'
    else:
        cc = "<div></div>"
    return (
        '<div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
        "------------------&nbsp;原始邮件&nbsp;------------------</div>"
        '<div style="font-size: 12px;background:#efefef;padding:8px;">'
        f'<div><b>发件人:</b>&nbsp;"{esc(t.sup[0])}"{pad}&lt;{t.sup[1]}&gt;;</div>'
        f"<div><b>发送时间:</b>&nbsp;{t.date.year}年{t.date.month}月{t.date.day}日(星期{zh_weekday(t.date)}) {zh_ampm(t.date)}</div>"
        f'<div><b>收件人:</b>&nbsp;"{esc(m.cust[0])}"&lt;{m.cust[1]}&gt;;<wbr></div>'
        f"{cc}"
        f"<div><b>主题:</b>&nbsp;{esc(t.prev_subject)}</div></div><div><br></div>"
    )


def qq_prev_html(t):
    return lines_html_divs(t.prev)


def render_qq_classic(m):
    """QQ Mail web (classic editor): plain part with the separator and a header block, the
    original unquoted below; HTML with QQ's grey header box."""
    t, cs = m.t, m.opts.get("charset", "gb18030")
    b = qq_boundary(m)
    plain = "\n".join([m.new, "", "", *qq_header_block_zh(m), "", "", "", *t.prev]) + "\n"
    htm = (
        f'<meta http-equiv="Content-Type" content="text/html; charset={cs.upper()}">'
        + lines_html_divs(m.new.split("\n"))
        + "<div><br></div><div><br></div>"
        + qq_html_header_zh(m)
        + qq_prev_html(t)
    )
    body = Multi("alternative", b, [
        text_part(plain, "plain", cs, "base64", QQ_PART_CT),
        text_part(htm, "html", cs, "base64", QQ_PART_CT),
    ], preamble="This is a multi-part message in MIME format.")
    m.markers += ["原始邮件", "发送时间:", f'"{t.sup[0]}"<{t.sup[1]}>']
    return message(qq_headers(m, "回复：", cs, qq_parts_ctype(b)), body), None


def render_qq_modern(m):
    """QQ Mail web (current editor): the plain part keeps `&nbsp;` and `&gt;` entities and pads
    the sender with runs of spaces; the HTML wraps the quote in #original-content."""
    t, cs = m.t, m.opts.get("charset", "UTF-8")
    m.opts["no_cc"] = True
    b = qq_boundary(m)
    sent = f"{t.date.year}年{t.date.month}月{t.date.day}日(星期{zh_weekday(t.date)}) {zh_ampm(t.date)}"
    block = [
        "------------------&nbsp;原始邮件&nbsp;------------------",
        "发件人:" + " " * 120 + f'"{t.sup[0]}"' + " " * 84 + f"<{t.sup[1]}&gt;;",
        f"发送时间:&nbsp;{sent}",
        f'收件人:&nbsp;"{m.cust[0]}"<{m.cust[1]}&gt;;',
        "",
        f"主题:&nbsp;{t.prev_subject}",
    ]
    new_plain = m.new.replace("  ", "&nbsp; ") if m.opts.get("nbsp_in_new") else m.new
    plain = "\n".join([new_plain, "", "", "", "", *block, "", "", "", *t.prev]) + "\n"
    htm = (
        f'<meta http-equiv="Content-Type" content="text/html; charset={cs}">'
        + lines_html_divs(m.new.split("\n"))
        + '<div><br></div><div><br></div><div><br></div><div id="original-content">'
        + qq_html_header_zh(m, nbsp_pad=True)
        + qq_prev_html(t)
        + "</div>"
    )
    body = Multi("alternative", b, [
        text_part(plain, "plain", cs, "base64", QQ_PART_CT),
        text_part(htm, "html", cs, "base64", QQ_PART_CT),
    ], preamble="This is a multi-part message in MIME format.")
    m.markers += ["原始邮件", "发送时间:", "&nbsp;", "&gt;", f"<{t.sup[1]}&gt;;"]
    return message(qq_headers(m, "回复：", cs, qq_parts_ctype(b)), body), None


def render_qq_en(m):
    """QQ Mail with the English interface: `------------------ Original ------------------` and
    From/Date/To/Subject with two spaces after the colon."""
    t, cs = m.t, m.opts.get("charset", "ISO-8859-1")
    b = qq_boundary(m)
    date = t.date.strftime("%a, %b ") + str(t.date.day) + t.date.strftime(", %Y ") + en_time12(t.date)
    block = [
        "------------------ Original ------------------",
        f'From:  "{t.sup[0]}"<{t.sup[1]}>;',
        f"Date:  {date}",
        f'To:  "{m.cust[0]}"<{m.cust[1]}>;',
        "",
        f"Subject:  {t.prev_subject}",
    ]
    plain = "\n".join([m.new, "", "", *block, "", "", "", *t.prev]) + "\n"
    htm = (
        f'<meta http-equiv="Content-Type" content="text/html; charset={cs}">'
        + lines_html_divs(m.new.split("\n"))
        + "<div><br></div><div><br></div>"
        + '<div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
        "------------------&nbsp;Original&nbsp;------------------</div>"
        '<div style="font-size: 12px;background:#efefef;padding:8px;">'
        f'<div><b>From: </b>&nbsp;"{esc(t.sup[0])}"&lt;{t.sup[1]}&gt;;</div>'
        f"<div><b>Date: </b>&nbsp;{date}</div>"
        f'<div><b>To: </b>&nbsp;"{esc(m.cust[0])}"&lt;{m.cust[1]}&gt;;<wbr></div>'
        f"<div></div><div><b>Subject: </b>&nbsp;{esc(t.prev_subject)}</div></div><div><br></div>"
        + qq_prev_html(t)
    )
    body = Multi("alternative", b, [
        text_part(plain, "plain", cs, "base64", QQ_PART_CT),
        text_part(htm, "html", cs, "base64", QQ_PART_CT),
    ], preamble="This is a multi-part message in MIME format.")
    m.markers += ["------------------ Original ------------------", "Date:  ", f'"{t.sup[0]}"<{t.sup[1]}>']
    return message(qq_headers(m, "Re: ", cs, qq_parts_ctype(b), exmail=m.opts.get("exmail", False)), body), None


def render_qq_gt(m):
    """QQ Mail, plain-text part only, quoting with literal `&gt;` entities (as
    real/erofs/202e1a513bf9.eml): `On <Date header>, <address> wrote:` then `&gt; ` lines."""
    t, cs = m.t, m.opts.get("charset", "ISO-8859-1")
    if m.lang == "en":
        attribution = f"On {rfc_date(t.date)}, {t.sup[1]} wrote:"
    else:
        attribution = f"在 {rfc_date(t.date)}，{t.sup[1]} 写道："
    q = lambda l: f"&gt; {l}" if l.strip() else "&gt;"
    if m.style == "inline":
        body_lines = [attribution, "", *m.inline_lines(q)]
    else:
        body_lines = [attribution, "", *[q(l) for l in t.prev], "", m.new]
    plain = "\n".join(body_lines) + "\n"
    hs = qq_headers(m, "Re: ", cs, f'Content-Type: text/plain;\n\tcharset="{cs}"')
    m.markers += ["&gt;", f"{t.sup[1]} wrote:" if m.lang == "en" else f"{t.sup[1]} 写道："]
    return message(hs, Part([], body_bytes(plain, cs, "base64"))), None


def render_qq_mobile(m):
    """QQ Mail app on iPhone: `发自我的iPhone`, then an English-labelled Original block
    (approximation)."""
    t, cs = m.t, "gb18030"
    b = qq_boundary(m)
    date = t.date.strftime("%a,%b ") + str(t.date.day) + t.date.strftime(",%Y ") + en_time12(t.date)
    block = [
        "------------------ Original ------------------",
        f'From: "{t.sup[0]}"<{t.sup[1]}>;',
        f"Date: {date}",
        f'To: "{m.cust[0]}"<{m.cust[1]}>;',
        f"Subject: {t.prev_subject}",
    ]
    plain = "\n".join([m.new, "", "", *block, "", *t.prev]) + "\n"
    htm = (
        lines_html_divs(m.new.split("\n"))
        + '<div><br></div><div><div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
        "------------------&nbsp;Original&nbsp;------------------</div>"
        '<div style="font-size: 12px;background:#efefef;padding:8px;">'
        f'<div><b>From:</b> "{esc(t.sup[0])}"&lt;{t.sup[1]}&gt;;</div>'
        f"<div><b>Date:</b> {date}</div>"
        f'<div><b>To:</b> "{esc(m.cust[0])}"&lt;{m.cust[1]}&gt;;</div>'
        f"<div><b>Subject:</b> {esc(t.prev_subject)}</div></div><div><br></div>"
        + qq_prev_html(t) + "</div>"
    )
    body = Multi("alternative", b, [
        text_part(plain, "plain", cs, "base64", QQ_PART_CT),
        text_part(htm, "html", cs, "base64", QQ_PART_CT),
    ], preamble="This is a multi-part message in MIME format.")
    hs = qq_headers(m, "回复：", cs, qq_parts_ctype(b))
    hs = [h.replace("X-QQ-SSF: 0000000000000060", "X-QQ-SSF: 0000000000000060\nX-QQ-WAPMAIL: 1") for h in hs]
    m.markers += ["------------------ Original ------------------", f'"{t.sup[0]}"<{t.sup[1]}>']
    return message(hs, body), None


def render_qq_2024(m):
    """QQ Mail's 2024 editor: an `原始邮件` title over a From/Sent table, in plain text indented
    lines (approximation, after the English form FreeScout's tests record)."""
    t, cs = m.t, "UTF-8"
    b = qq_boundary(m)
    sent = f"{t.date.year}年{t.date.month}月{t.date.day}日 {t.date:%H:%M}"
    plain = "\n".join([
        m.new, "", "", "         原始邮件", "         ", "       ",
        f"发件人:{t.sup[0]} <{t.sup[1]}>",
        f"发送时间:{sent}",
        f"收件人:{m.cust[0]} <{m.cust[1]}>",
        f"主题:{t.prev_subject}", "", *t.prev]) + "\n"
    table = (
        '<table data-uneditable="true" style="line-height: 20px;"><tbody><tr><td>'
        f"<div><span>发件人:</span><span>{esc(t.sup[0])}</span> <span>&lt;{t.sup[1]}&gt;</span></div>"
        f"<div><span>发送时间:</span><span>{sent}</span></div>"
        f"<div><span>收件人:</span><span>{esc(m.cust[0])}</span> <span>&lt;{m.cust[1]}&gt;</span></div>"
        f"<div><span>主题:</span><span>{esc(t.prev_subject)}</span></div>"
        "</td></tr></tbody></table><div><br></div>"
    )
    htm = (
        "".join(f"<p>{esc(l)}</p>" if l.strip() else "<p><br></p>" for l in m.new.split("\n"))
        + '<div><br></div><article style="line-height: 1.43;"><div style="display:flex;align-items:center;padding-top:8px" contenteditable="false">'
        + '<div style="color:#959DA6;font-size:12px;line-height:30px">原始邮件</div><hr style="flex-grow:1"></div>'
        + table + lines_html_divs(t.prev) + "</article>"
    )
    body = Multi("alternative", b, [
        text_part(plain, "plain", cs, "base64", QQ_PART_CT),
        text_part(htm, "html", cs, "base64", QQ_PART_CT),
    ], preamble="This is a multi-part message in MIME format.")
    m.markers += ["原始邮件", "发送时间:", f"发件人:{t.sup[0]}"]
    return message(qq_headers(m, "回复：", cs, qq_parts_ctype(b)), body), None


def render_exmail_html_only(m):
    """Tencent Exmail sent from WeCom (企业微信) on a phone: HTML only, QQ's header box
    (approximation)."""
    t, cs = m.t, "UTF-8"
    htm = (
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">'
        + "".join(f"<div>{esc(l)}</div>" if l.strip() else "<div><br></div>" for l in m.new.split("\n"))
        + '<div><br></div><div><div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
        "------------------&nbsp;原始邮件&nbsp;------------------</div>"
        '<div style="font-size: 12px;background:#efefef;padding:8px;">'
        f'<div><b>发件人:</b>&nbsp;"{esc(t.sup[0])}"&lt;{t.sup[1]}&gt;;</div>'
        f"<div><b>发送时间:</b>&nbsp;{t.date.year}年{t.date.month}月{t.date.day}日(星期{zh_weekday(t.date)}) {zh_ampm(t.date)}</div>"
        f'<div><b>收件人:</b>&nbsp;"{esc(m.cust[0])}"&lt;{m.cust[1]}&gt;;</div>'
        f"<div><b>主题:</b>&nbsp;{esc(t.prev_subject)}</div></div><div><br></div>"
        + '<blockquote style="margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex">'
        + lines_html_divs(t.prev) + "</blockquote></div>"
    )
    part = text_part(htm, "html", cs, "base64", QQ_PART_CT)
    hs = qq_headers(m, "回复：", cs, 'Content-Type: text/html;\n\tcharset="UTF-8"', exmail=True)
    hs = [h.replace("X-Mailer: QQMail 2.x", "X-Mailer: WeCom Mail 4.1") for h in hs]
    m.markers += ["原始邮件", "发送时间:"]
    return message(hs, part), None


FOXMAIL_STYLE = (
    "<style>body { line-height: 1.5; }blockquote { margin-top: 0px; margin-bottom: 0px; "
    "margin-left: 0.5em; }body { font-size: 14px; font-family: 'Microsoft YaHei UI'; color: "
    "rgb(0, 0, 0); line-height: 1.5; }</style>"
)


def foxmail_headers(m, charset, ctype, prefix="回复: "):
    t = m.t
    d = m.date
    hs = [
        f"Date: {rfc_date(d)}",
        f"From: {addr(m.cust[0], m.cust[1], charset, True)}",
        f"To: {addr(t.sup[0], t.sup[1], charset, True)}",
        f"Subject: {ew(m.subject(prefix), charset.upper())}",
        f"References: <{t.prev_msgid}>",
        f"X-GUID: {uuid_like(seed(m, 'g'), upper=True)}",
        "X-Has-Attach: no",
        f"X-Mailer: {m.opts.get('mailer', 'Foxmail 7.2.25.228[cn]')}",
        "Mime-Version: 1.0",
        f"Message-ID: <{d:%Y%m%d%H%M%S}{int(hexid(seed(m, 'id'), 6), 16) % 100000000:08d}@{m.cust[1].split('@')[1]}>",
        ctype,
    ]
    return hs


def render_foxmail(m):
    """Foxmail 7 rich text: the new text, a hidden 210px rule (a line of underscores in the
    plain part) above the signature, then a blockquote with a full-width-colon header block and
    the original unquoted (as real/erofs/7d8098132d1e.eml)."""
    t, cs = m.t, m.opts.get("charset", "gb2312")
    en = m.lang == "en"
    sig = m.opts.get("sig", m.cust[1])
    labels = ["From:", "Date:", "To:", "Subject:"] if en else ["发件人：", "发送时间：", "收件人：", "主题："]
    when = f"{t.date:%Y-%m-%d %H:%M}"
    plain = "\n".join([
        m.new, "________________________________", "", sig, "", f"{labels[0]} {t.sup[0]}<mailto:{t.sup[1]}>",
        f"{labels[1]} {when}", f"{labels[2]} {m.cust[0]}<mailto:{m.cust[1]}>",
        f"{labels[3]} {t.prev_subject}", *t.prev]) + "\n"
    hdr = "".join(
        f"<div><b>{lab}</b>&nbsp;{val}</div>"
        for lab, val in [
            (labels[0], f'<a href="mailto:{t.sup[1]}">{esc(t.sup[0])}</a>'),
            (labels[1], when.replace(" ", "&nbsp;")),
            (labels[2], f'<a href="mailto:{m.cust[1]}">{esc(m.cust[0])}</a>'),
            (labels[3], esc(t.prev_subject)),
        ]
    )
    htm = (
        f'<html><head>\r\n<meta http-equiv="Content-Type" content="text/html; charset={cs}">\r\n{FOXMAIL_STYLE}\r\n</head>\r\n<body>\r\n'
        + "".join(f"<div><span></span>{esc(l)}</div>" if l.strip() else "<div><br></div>" for l in m.new.split("\n"))
        + '\r\n<hr style="width: 210px; height: 1px;" color="#b5c4df" size="1" align="left">\r\n'
        + f'<div><span><div style="MARGIN: 10px; FONT-FAMILY: verdana; FONT-SIZE: 10pt"><div>{esc(sig)}</div></div></span></div>\r\n'
        + '<blockquote style="margin-Top: 0px; margin-Bottom: 0px; margin-Left: 0.5em; margin-Right: inherit">\r\n'
        + '<div>&nbsp;</div>\r\n<div style="border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt 0cm 0cm 0cm">\r\n'
        + '<div style="PADDING-RIGHT: 8px; PADDING-LEFT: 8px; FONT-SIZE: 12px;FONT-FAMILY:tahoma;COLOR:#000000; BACKGROUND: #efefef; PADDING-BOTTOM: 8px; PADDING-TOP: 8px">\r\n'
        + hdr + "\r\n</div>\r\n</div>\r\n<div>\r\n" + lines_html_divs(t.prev) + "\r\n</div>\r\n</blockquote>\r\n</body>\r\n</html>\r\n"
    )
    b = f"----=_001_NextPart{int(hexid(seed(m, 'b'), 8), 16) % 10**12:012d}_=----"
    body = Multi("alternative", b, [
        text_part(plain, "plain", cs, "base64", "Content-Type: text/{sub};\n\tcharset=\"{cs}\""),
        text_part(htm, "html", cs, "quoted-printable", "Content-Type: text/{sub};\n\tcharset=\"{cs}\""),
    ], preamble="This is a multi-part message in MIME format.")
    hs = foxmail_headers(m, cs, f'Content-Type: multipart/alternative;\n\tboundary="{b}"', "Re: " if en else "回复: ")
    m.markers += [labels[1], f"{labels[0]} {t.sup[0]}"]
    if m.expect_last is None and m.style == "top":
        m.expect_last = ""  # the signature under the hidden rule may or may not be kept
        m.contains.append(m.new.split("\n")[-1])
    return message(hs, body), None


def render_foxmail_plain(m):
    """Foxmail in plain-text mode: `>` with no space and no attribution line (as
    real/erofs/533eca62621b.eml)."""
    t, cs = m.t, m.opts.get("charset", "utf-8")
    q = lambda l: ">" + l
    if m.style == "inline":
        lines = ([m.head, ""] if m.head else []) + m.inline_lines(q)
    elif m.style == "top":
        lines = [m.new, "", *[q(l) for l in t.prev]]
    else:
        lines = [*[q(l) for l in t.prev], "", m.new]
    plain = "\n".join(lines) + "\n"
    part = text_part(plain, "plain", cs, "base64", "Content-Type: text/{sub};\n\tcharset=\"{cs}\"")
    hs = foxmail_headers(m, cs, "", "回复: " if m.lang != "en" else "Re: ")
    hs = [h for h in hs if h]
    return message(hs, part), None


# -- NetEase / Coremail: 163, 126, Coremail enterprise, MailMaster, FlashMail -------------------


def coremail_headers(m, mailer, charset, ctype, prefix, cte=None, locale=True, domain=None, dup=True):
    t = m.t
    dom = domain or m.cust[1].split("@")[1]
    s = seed(m)
    hs = [
        "X-Originating-IP: [120.231.117.174]",
        f"Date: {rfc_date(m.date, 'CST')}",
        f"From: {addr(m.cust[0], m.cust[1], charset, True)}",
        f"To: {addr(t.sup[0], t.sup[1], charset, True)}",
        f"Subject: {ew(m.subject(prefix, dup=dup), charset)}",
        "X-Priority: 3",
        f"X-Mailer: {mailer}",
        f"In-Reply-To: <{t.prev_msgid}>",
        f"References: <{t.prev_msgid}>",
    ]
    if "163com" in mailer or "126com" in mailer:
        hs.append(f"X-NTES-SC: AL_{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}")
    if cte:
        hs.append(f"Content-Transfer-Encoding: {cte}")
    hs += [
        ctype,
        "MIME-Version: 1.0",
        f"Message-ID: <{hexid(s, 8)}.{hexid(s + 'a', 4)}.{hexid(s + 'b', 11)}.Coremail.{m.cust[1]}>",
    ]
    if locale:
        hs.append("X-Coremail-Locale: zh_CN")
    hs += [
        f"X-CM-TRANSID: {base64.b64encode(hexid(s + 't', 18).encode()).decode()[:26]}--.{int(hexid(s, 4), 16)}W",
        f"X-CM-SenderInfo: {hexid(s + 'si', 20)}/1tbi{hexid(s + 'sj', 18)}",
        "X-Coremail-Antispam: 1U5529EdanIXcx71UUUUU7vcSsGvfC2KfnxnUU==",
    ]
    return hs


MAILER_163 = "Coremail Webmail Server Version XT5.0.14 build 20240801(9da12a7b)\n Copyright (c) 2002-2025 www.mailtech.cn 163com"
MAILER_126 = "Coremail Webmail Server Version XT5.0.14 build 20240801(9da12a7b)\n Copyright (c) 2002-2025 www.mailtech.cn 126com"
MAILER_XT3 = "Coremail Webmail Server Version XT3.0.8 dev build\n 20190610(cb3344cf) Copyright (c) 2002-2025 www.mailtech.cn ustc-xl"


def netease_attribution(m):
    t = m.t
    if m.lang == "en":
        return f'At {t.date:%Y-%m-%d %H:%M:%S}, "{t.sup[0]}" <{t.sup[1]}> wrote:'
    return f'在 {t.date:%Y-%m-%d %H:%M:%S}，"{t.sup[0]}" <{t.sup[1]}> 写道：'


def render_netease(m):
    """163/126 webmail: `在 … 写道：` / `At … wrote:` and the plain-text original quoted with `>`
    and no space (as real/erofs/6cd4320a9c5c.eml); GBK base64; top, bottom or inline."""
    t = m.t
    cs = m.opts.get("charset", "GBK")
    mailer = MAILER_126 if m.opts.get("box") == "126" else MAILER_163
    attribution = netease_attribution(m)
    q = lambda l: ">" + l
    if m.style == "top":
        plain_lines = [m.new, "", "", "", "", attribution, "", *[q(l) for l in t.prev]]
        html_new_top, html_new_bottom = m.new, None
    elif m.style == "bottom":
        plain_lines = [attribution, "", *[q(l) for l in t.prev], "", "", m.new]
        html_new_top, html_new_bottom = None, m.new
    else:
        plain_lines = [attribution, "", *m.inline_lines(q)]
        html_new_top = html_new_bottom = None
    plain = "\n".join(plain_lines) + "\n"
    p = lambda text: "".join(f'<p style="margin: 0;">{esc(l) or "<br>"}</p>' for l in text.split("\n"))
    pre = lambda ls: "<pre>" + "\n".join(esc(q(l)) for l in ls) + "\n</pre>"
    if m.style == "inline":
        inner = f'<p style="margin: 0;">{esc(attribution)}</p>' + m.html_inline(
            "<pre>", "</pre>", lambda l: esc(q(l)) + "\n", lambda l: f'<p style="margin: 0;">{esc(l) or "<br>"}</p>')
    else:
        inner = (p(html_new_top) + '<p style="margin: 0;"><br></p>' if html_new_top else "") + \
            '<div id="divNeteaseMailCard"></div>' + f'<p style="margin: 0;">{esc(attribution)}</p>' + pre(t.prev) + \
            (p(html_new_bottom) if html_new_bottom else "")
    htm = ('<div data-ntes="ntes_mail_body_root" style="line-height:1.7;color:#000000;font-size:14px;'
           f'font-family:Arial"><div id="spnEditorContent">{inner}</div></div>')
    b = f"----=_Part_{int(hexid(seed(m, 'p'), 5), 16)}_{int(hexid(seed(m, 'q'), 7), 16)}.{int(m.date.timestamp())}071"
    body = Multi("alternative", b, [
        text_part(plain, "plain", cs, "base64"),
        text_part(htm, "html", cs, "base64"),
    ], ct_fmt='Content-Type: multipart/{sub}; \n\tboundary="{b}"')
    hs = coremail_headers(m, mailer, cs, f'Content-Type: multipart/alternative; \n\tboundary="{b}"', "Re:", dup=True)
    m.markers += ["wrote:" if m.lang == "en" else "写道：", f'"{t.sup[0]}" <{t.sup[1]}>']
    return message(hs, body), None


def render_netease_plain_nbsp(m):
    """126 webmail sending plain text only: the new text keeps literal `&nbsp;` for every space
    and the attribution follows it directly, the original unquoted below (as
    real/erofs/7e4be010a1c8.eml)."""
    t = m.t
    new = m.new.replace(" ", "&nbsp;")
    plain = "\n".join([new, netease_attribution(m), *t.prev]) + "\n"
    part = text_part(plain, "plain", "utf-8", "base64")
    hs = coremail_headers(m, MAILER_126, "utf-8", "Content-Type: text/plain; charset=utf-8", "Re:", cte="base64", dup=True)
    m.markers += ["&nbsp;", "写道：" if m.lang != "en" else "wrote:"]
    return message(hs, part), None


def coremail_block(m, en=False):
    t = m.t
    if en:
        wd = t.date.strftime("%A")
        return [
            "-----Original Messages-----",
            f'From: "{t.sup[0]}" <{t.sup[1]}>',
            f"Sent Time: {t.date:%Y-%m-%d %H:%M:%S} ({wd})",
            f"To: {m.cust[1]}",
            "Cc: ",
            f"Subject: {t.prev_subject}",
        ]
    return [
        "-----原始邮件-----",
        f'发件人: "{t.sup[0]}" <{t.sup[1]}>',
        f"发送时间: {t.date:%Y-%m-%d %H:%M:%S} (星期{zh_weekday(t.date)})",
        f"收件人: {m.cust[1]}",
        f"抄送: {t.cc[1] if t.cc else ''}",
        f"主题: {t.prev_subject}",
    ]


def render_coremail(m):
    """Coremail enterprise webmail (XT3): `-----原始邮件-----` with 发件人/发送时间 (星期X)/收件人/
    抄送/主题, `> `-quoted and bottom-posted in plain text (as real/target-devel/f3ba7f6bcdbc.eml);
    top-posted from the rich editor with the block unquoted; the English UI's
    `-----Original Messages-----` is an approximation."""
    t = m.t
    en = m.lang == "en" and m.opts.get("en_ui", True)
    block = coremail_block(m, en)
    q = lambda l: "> " + l
    rich = m.style == "top"
    if m.style == "bottom":
        plain_lines = ["", "", "", *[q(l) for l in block], "> ", *[q(l) for l in t.prev], "", "", m.new]
    elif m.style == "inline":
        plain_lines = ["", "", "", *[q(l) for l in block], "> ", *m.inline_lines(q)]
    else:
        plain_lines = [m.new, "", "", "", *block, "", *t.prev]
    plain = "\n".join(plain_lines) + "\n"
    m.markers += [block[0], block[2].split(":")[0] + ":", block[1]]
    domain = m.cust[1].split("@")[1]
    if not rich:
        part = text_part(plain, "plain", "UTF-8", "base64")
        hs = coremail_headers(m, MAILER_XT3, "UTF-8", "Content-Type: text/plain; charset=UTF-8", "Re: ",
                              cte="base64", domain=domain)
        hs.insert(2, "X-CM-HeaderCharset: UTF-8")
        return message(hs, part), None
    htm = (
        "".join(f"<p>{esc(l)}</p>" if l.strip() else "<p><br></p>" for l in m.new.split("\n"))
        + "<br><br><br>"
        + '<blockquote name="replyContent" class="ReferenceQuote" style="padding-left:5px;margin-left:5px;'
        + 'border-left:#b6b6b6 2px solid;margin-right:0;">'
        + esc(block[0]) + "<br>"
        + "".join(f"<b>{esc(l.split(':', 1)[0])}:</b>{esc(l.split(':', 1)[1])}<br>" for l in block[1:])
        + "<br>" + "<br>".join(esc(l) for l in t.prev) + "</blockquote>"
    )
    b = f"----=_Part_{int(hexid(seed(m, 'p'), 5), 16)}_{int(hexid(seed(m, 'q'), 7), 16)}.{int(m.date.timestamp())}410"
    body = Multi("alternative", b, [
        text_part(plain, "plain", "UTF-8", "base64"),
        text_part(htm, "html", "UTF-8", "quoted-printable"),
    ], ct_fmt='Content-Type: multipart/{sub}; \n\tboundary="{b}"')
    hs = coremail_headers(m, MAILER_XT3, "UTF-8", f'Content-Type: multipart/alternative; \n\tboundary="{b}"',
                          "Re: ", domain=domain)
    hs.insert(2, "X-CM-HeaderCharset: UTF-8")
    return message(hs, body), None


def render_mailmaster(m):
    """NetEase MailMaster: `---- 回复的原邮件 ----` (`---- Replied Message ----` in English) and a
    `| 发件人 | … |` table; the desktop signature card renders as `| |` lines. The mobile app
    puts `发自网易邮箱大师` above an unbarred block with no colons. Layout after quoted copies
    in public archives and other helpdesks' tests (approximation)."""
    t = m.t
    variant = m.opts.get("variant", "desktop")
    en = m.lang == "en"
    cs = "UTF-8"
    if variant == "mobile":
        block = [
            "---- 回复的原邮件 ---- ",
            f"发件人 {t.sup[0]}<{t.sup[1]}> ",
            f"发送日期 {t.date:%Y年%m月%d日 %H:%M} ",
            f"收件人 {m.cust[0]}<{m.cust[1]}> ",
            f"主题 {t.prev_subject} ",
            "",
        ]
        lines = [m.new, "", "发自网易邮箱大师", *block, *t.prev]
        m.markers += ["回复的原邮件", "发送日期"]
        m.footer = "发自网易邮箱大师"
    elif en:
        block = [
            "---- Replied Message ----",
            f"| From | {t.sup[0]}<{t.sup[1]}> |",
            f"| Date | {t.date:%m/%d/%Y %H:%M} |",
            f"| To | {m.cust[1]} |",
            f"| Subject | {t.prev_subject} |",
        ]
        lines = [m.new, "", *block, *t.prev]
        m.markers += ["Replied Message", "| From |"]
    else:
        card = ["| |", m.cust[0], "|", "|", f"邮箱：{m.cust[1]}", "|"]
        block = [
            "---- 回复的原邮件 ----",
            f"| 发件人 | {t.sup[0]}<{t.sup[1]}> |",
            f"| 日期 | {t.date:%Y年%m月%d日 %H:%M} |",
            f"| 收件人 | {m.cust[0]}<{m.cust[1]}> |",
            f"| 主题 | {t.prev_subject} |",
        ]
        lines = [m.new, "", *card, "", *block, *t.prev]
        m.markers += ["回复的原邮件", "| 发件人 |"]
    plain = "\n".join(lines) + "\n"
    rows = [l.strip("| ").split(" | ", 1) for l in block[1:5]] if variant != "mobile" else [l.strip().split(" ", 1) for l in block[1:5]]
    table = "".join(f'<tr><td style="padding-right:1em;color:#999">{esc(k)}</td><td>{esc(v)}</td></tr>' for k, v in rows)
    htm = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head><body>'
        + "".join(f"<div>{esc(l)}</div>" if l.strip() else "<div><br></div>" for l in m.new.split("\n"))
        + ("<div><br></div><div>发自网易邮箱大师</div>" if variant == "mobile" else "")
        + '<div class="J-reply ntes-mailmaster-quote" style="padding-top: 1px; padding-bottom: 1px">'
        + f'<div style="margin:2em 0 1em">{esc(block[0].strip())}</div>'
        + f'<div style="margin-bottom:1em;font-size:12px"><table>{table}</table></div>'
        + lines_html_divs(t.prev) + "</div></body></html>"
    )
    b = f"----=_Part_{int(hexid(seed(m, 'p'), 5), 16)}_{int(hexid(seed(m, 'q'), 7), 16)}.{int(m.date.timestamp())}188"
    body = Multi("alternative", b, [
        text_part(plain, "plain", cs, "base64"),
        text_part(htm, "html", cs, "base64"),
    ], ct_fmt='Content-Type: multipart/{sub}; \n\tboundary="{b}"')
    mailer = "MailMaster_Android_V7.19.4" if variant == "mobile" else "MailMaster PC 5.0.7.1010"
    hs = coremail_headers(m, mailer, cs, f'Content-Type: multipart/alternative; \n\tboundary="{b}"', "回复：" if not en else "Re: ")
    return message(hs, body), None


def render_flashmail(m):
    """NetEase FlashMail (闪电邮), the Windows client: 163-style attribution and `>` quoting,
    8bit GBK (approximation: no real sample at hand)."""
    t = m.t
    attribution = netease_attribution(m)
    q = lambda l: ">" + l
    if m.style == "top":
        lines = [m.new, "", attribution, *[q(l) for l in t.prev]]
    else:
        lines = [attribution, *[q(l) for l in t.prev], "", m.new]
    plain = "\n".join(lines) + "\n"
    part = text_part(plain, "plain", "GBK", "8bit", "Content-Type: text/{sub};\n\tcharset=\"{cs}\"")
    hs = [
        f"Date: {rfc_date(m.date)}",
        f"From: {addr(m.cust[0], m.cust[1], 'GBK', True)}",
        f"To: {addr(t.sup[0], t.sup[1], 'GBK', True)}",
        f"Subject: {ew(m.subject('Re: '), 'GBK')}",
        *refs(m),
        "X-Mailer: FlashMail 2.4.1.35 [cn]",
        "Mime-Version: 1.0",
        f"Message-ID: <{m.date:%Y%m%d%H%M%S}{hexid(seed(m), 6)}@{m.cust[1].split('@')[1]}>",
    ]
    m.markers += ["写道：" if m.lang != "en" else "wrote:"]
    return message(hs, part), "GBK"


# -- Alimail, HMail, NSMAIL, Huawei ---------------------------------------------------------------


ALI_RULE = "-" * 66


def alimail_block(m):
    t = m.t
    if m.opts.get("dingtalk"):
        lines = [
            f"发件人：{t.sup[0]}<{t.sup[1]}>",
            f"日　期：{t.date:%Y年%m月%d日 %H:%M:%S}",
            f"收件人：{m.cust[0]}<{m.cust[1]}>",
            f"抄　送：{t.cc[0] + '<' + t.cc[1] + '>' if t.cc else ''}",
            f"主　题：{t.prev_subject}",
        ]
    elif m.lang == "en":
        lines = [
            f"From:{t.sup[0]} <{t.sup[1]}>",
            f"Send Time:{t.date:%Y %b. %d (%a.) %H:%M}",
            f"To:{m.cust[0]} <{m.cust[1]}>",
            f"Subject:{t.prev_subject}",
        ]
    else:
        wd = "周" + zh_weekday(t.date) if m.opts.get("short_weekday") else "星期" + zh_weekday(t.date)
        lines = [
            f"发件人：{t.sup[0]} <{t.sup[1]}>",
            f"发送时间：{t.date.year}年{t.date.month}月{t.date.day}日({wd}) {t.date:%H:%M}",
            f"收件人：{m.cust[0]} <{m.cust[1]}>",
        ]
        if t.cc:
            lines.append(f"抄　送：{t.cc[0]} <{t.cc[1]}>")
        lines.append(f"主　题：{t.prev_subject}")
    return lines


def render_alimail(m):
    """Alimail (阿里邮箱) / DingTalk mail: a 66-dash rule, then 发件人：/发送时间：…(星期X)/收件人：/
    抄　送：/主　题： with full-width colons and full-width padding, the original unquoted. The
    rule and labels are copied from Alimail replies in public list archives; DingTalk glues its
    `来自钉钉专属商务邮箱` footer to the rule. English labels and the bottom-post are
    approximations (the bottom-post after a real netdev exchange, where the sender marked the end
    of the quote with `>>>>>>`)."""
    t = m.t
    block = alimail_block(m)
    if m.style == "top":
        footer = "来自钉钉专属商务邮箱" if m.opts.get("dingtalk") else ""
        lines = [m.new, "", "", "", footer + ALI_RULE, *block, "", *t.prev]
    else:  # bottom: the header block and original first, the sender's `>>>>>>` line, the answer
        lines = [ALI_RULE, *block, "", "", *t.prev, ">>>>>>", "", m.new]
    plain = "\n".join(lines) + "\n"
    if m.opts.get("dingtalk"):
        m.markers += [f"发件人：{t.sup[0]}", "日　期：", "主　题：", ALI_RULE]
        m.expect_last = ""  # the footer glued to the rule may go with it
        m.contains += [m.new.split("\n")[-1]]
    elif m.lang == "en":
        m.markers += ["Send Time:", f"From:{t.sup[0]}", ALI_RULE]
    else:
        m.markers += [f"发件人：{t.sup[0]}", "发送时间：", "主　题：", ALI_RULE]
    if m.style == "bottom":
        m.markers.append(">>>>>>")
    mailer = "Alimail-Mailagent revision 2716202"
    if m.opts.get("multipart", True):
        inner = "".join(f"<div>{esc(l)}</div>" if l.strip() else "<div><br></div>" for l in (m.new.split("\n") if m.style == "top" else []))
        quote = (
            '<blockquote style="margin-right:0;margin-top:0;margin-bottom:0">'
            f"<div>{esc(ALI_RULE)}</div>" + "".join(f"<div>{esc(l)}</div>" for l in block)
            + "<div><br></div>" + lines_html_divs(t.prev) + "</blockquote>"
        )
        if m.style == "top":
            htm = f'<div class="__aliyun_email_body_block">{inner}<div><br></div>' + (
                "<div>来自钉钉专属商务邮箱</div>" if m.opts.get("dingtalk") else "") + quote + "</div>"
        else:
            htm = ('<div class="__aliyun_email_body_block">' + quote + "<div>&gt;&gt;&gt;&gt;&gt;&gt;</div><div><br></div>"
                   + "".join(f"<div>{esc(l)}</div>" if l.strip() else "<div><br></div>" for l in m.new.split("\n")) + "</div>")
        b = f"----=ALIBOUNDARY_{int(hexid(seed(m, 'p'), 5), 16)}_{hexid(seed(m, 'q'), 8)}_{hexid(seed(m, 'r'), 8)}_{hexid(seed(m, 's'), 5)}"
        body = Multi("alternative", b, [
            text_part(plain, "plain", "UTF-8", "quoted-printable", 'Content-Type: text/{sub}; charset="{cs}"'),
            text_part(htm, "html", "UTF-8", "quoted-printable", 'Content-Type: text/{sub}; charset="{cs}"'),
        ], ct_fmt='Content-Type: multipart/{sub};\n  boundary="{b}"')
        ctype = body.content_type_lines()
    else:
        body = text_part(plain, "plain", "UTF-8", "QUOTED-PRINTABLE", "Content-Type: text/{sub}; charset={cs}")
        ctype = []
    hs = [
        f"Date: {rfc_date(m.date)}",
        f"From: {addr(m.cust[0], m.cust[1], 'UTF-8', True)}",
        f"To: {addr(t.sup[0], t.sup[1], 'UTF-8', True)}",
        f"Reply-To: {addr(m.cust[0], m.cust[1], 'UTF-8', True)}",
        f"Message-ID: <{uuid_like(seed(m))}.{m.cust[1]}>",
        f"Subject: {ew(m.subject('回复：' if m.lang != 'en' else 'Re: '), 'UTF-8')}",
        f"X-Mailer: {mailer}",
        "MIME-Version: 1.0",
        f"References: <{t.prev_msgid}>",
        f"In-Reply-To: <{t.prev_msgid}>",
        f"x-aliyun-mail-creator: W4_{int(hexid(seed(m), 6), 16)}_{hexid(seed(m, 'c'), 20)}",
        *ctype,
    ]
    return message(hs, body), None


def render_hmail(m):
    """HMail (approximation: no sample at hand). Modelled as the Zimbra-family webmails many
    Chinese enterprise systems are built on: `----- 原始邮件 -----` with 发件人/收件人/发送时间/主题,
    `> `-quoted below the answer (bottom-posting by default) or unquoted below it (top)."""
    t = m.t
    en = m.lang == "en"
    if en:
        block = ["----- Original Message -----", f'From: "{t.sup[0]}" <{t.sup[1]}>',
                 f'To: "{m.cust[0]}" <{m.cust[1]}>', f"Sent: {en_date_long(t.date)}",
                 f"Subject: {t.prev_subject}"]
    else:
        block = ["----- 原始邮件 -----", f'发件人: "{t.sup[0]}" <{t.sup[1]}>',
                 f'收件人: "{m.cust[0]}" <{m.cust[1]}>',
                 f"发送时间: 星期{zh_weekday(t.date)}, {t.date.year}年 {t.date.month} 月 {t.date.day}日 {zh_ampm(t.date)}",
                 f"主题: {t.prev_subject}"]
    q = lambda l: "> " + l if l else ">"
    if m.style == "bottom":
        lines = [*[q(l) for l in block], ">", *[q(l) for l in t.prev], "", m.new]
    else:
        lines = [m.new, "", *block, "", *t.prev]
    plain = "\n".join(lines) + "\n"
    part = text_part(plain, "plain", "utf-8", "quoted-printable")
    hs = [
        f"Date: {rfc_date(m.date)}",
        f"From: {addr(m.cust[0], m.cust[1], 'utf-8', False)}",
        f"To: {addr(t.sup[0], t.sup[1], 'utf-8', False)}",
        f"Message-ID: <{int(hexid(seed(m), 7), 16)}.{int(hexid(seed(m, 'b'), 5), 16)}.{int(m.date.timestamp())}{int(hexid(seed(m, 'c'), 2), 16)}.JavaMail.hmail@{m.cust[1].split('@')[1]}>",
        *refs(m),
        f"Subject: {ew(m.subject('回复: ' if not en else 'Re: '), 'utf-8')}",
        "MIME-Version: 1.0",
        "X-Mailer: HMail Web Client 5.2",
    ]
    m.markers += [block[0], block[3].split(":")[0] + ":"]
    return message(hs, part), None


def render_nsmail(m):
    """NSMAIL (approximation: no sample at hand), modelled on the Thunderbird base many
    domestic desktop clients share: bottom-posted with `在 2025/4/29 11:32, X 写道:`, or
    top-posted with an `-------- 原始邮件 --------` block whose tab-separated labels come first."""
    t = m.t
    if m.style == "bottom":
        lines = [f"在 {t.date.year}/{t.date.month}/{t.date.day} {t.date:%H:%M}, {t.sup[0]} 写道:",
                 *[("> " + l) if l else ">" for l in t.prev], "", m.new]
        m.markers += ["写道:"]
    else:
        lines = [m.new, "", "", "-------- 原始邮件 --------", f"主题：\t{t.prev_subject}",
                 f"日期：\t{t.date:%Y-%m-%d %H:%M}", f"发件人：\t{t.sup[0]} <{t.sup[1]}>",
                 f"收件人：\t{m.cust[0]} <{m.cust[1]}>", "", "", *t.prev]
        m.markers += ["-------- 原始邮件 --------", "日期：\t"]
    plain = "\n".join(lines) + "\n"
    part = text_part(plain, "plain", "UTF-8", "8bit", "Content-Type: text/{sub}; charset={cs}; format=flowed")
    hs = [
        f"Message-ID: <{uuid_like(seed(m))}@{m.cust[1].split('@')[1]}>",
        f"Date: {rfc_date(m.date)}",
        "MIME-Version: 1.0",
        "User-Agent: NSMAIL/5.3.2 (X11; Linux aarch64)",
        f"Subject: {ew(m.subject('Re: '), 'UTF-8')}",
        f"To: {addr(t.sup[0], t.sup[1])}",
        f"References: <{t.prev_msgid}>",
        "Content-Language: zh-CN",
        f"From: {addr(m.cust[0], m.cust[1])}",
        f"In-Reply-To: <{t.prev_msgid}>",
    ]
    return message(hs, part), "UTF-8"


def render_huawei(m):
    """The Huawei phone Email app (approximation): the footer `来自: 华为手机` and an AOSP-style
    `-------- 原始邮件 --------` block with full-width colons."""
    t = m.t
    lines = [m.new, "", "来自: 华为手机", "", "-------- 原始邮件 --------",
             f"发件人：{t.sup[0]} <{t.sup[1]}>",
             f"日期：{t.date.year}年{t.date.month}月{t.date.day}日周{zh_weekday(t.date)} {zh_ampm(t.date)}",
             f"收件人：{m.cust[0]} <{m.cust[1]}>", f"主题：{t.prev_subject}", "", *t.prev]
    plain = "\n".join(lines) + "\n"
    htm = ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\"></head><body>"
           + "".join(f"<div>{esc(l)}</div>" if l.strip() else "<div><br></div>" for l in m.new.split("\n"))
           + "<div><br></div><div>来自: 华为手机</div><div><br></div>"
           + '<div class="quote"><div>-------- 原始邮件 --------</div>'
           + "".join(f"<div>{esc(l)}</div>" for l in lines[5:9]) + "<div><br></div>"
           + "<blockquote>" + lines_html_divs(t.prev) + "</blockquote></div></body></html>")
    b = f"--_com.android.email_{int(hexid(seed(m), 12), 16)}"
    body = Multi("alternative", b, [
        text_part(plain, "plain", "UTF-8", "base64"),
        text_part(htm, "html", "UTF-8", "base64"),
    ], ct_fmt='Content-Type: multipart/{sub}; boundary="{b}"')
    hs = [
        "MIME-Version: 1.0",
        f"Subject: {ew(m.subject('回复：'), 'UTF-8')}",
        f"From: {addr(m.cust[0], m.cust[1])}",
        f"To: {addr(t.sup[0], t.sup[1])}",
        f"Date: {rfc_date(m.date)}",
        f"Message-ID: <{hexid(seed(m), 12)}-{hexid(seed(m, 'x'), 8)}@email.android.com>",
        *refs(m),
        "X-Mailer: HuaweiEmail/13.0.1.301",
        *body.content_type_lines(),
    ]
    m.markers += ["原始邮件", "日期："]
    m.footer = "来自: 华为手机"
    return message(hs, body), None


# -- Microsoft: Outlook desktop, OWA / new Outlook, Outlook mobile, Windows Mail ------------------


def outlook_labels(m):
    if m.lang == "zh-TW":
        return {"from": "寄件者", "sent": "寄件日期", "to": "收件者", "cc": "副本", "subject": "主旨"}
    if m.lang == "en":
        return {"from": "From", "sent": "Sent", "to": "To", "cc": "Cc", "subject": "Subject"}
    if m.opts.get("padded"):
        return {"from": "发件人", "sent": "发送时间", "to": "收件人", "cc": "抄　送", "subject": "主　题"}
    return {"from": "发件人", "sent": "发送时间", "to": "收件人", "cc": "抄送", "subject": "主题"}


def outlook_sent(m, seconds=False):
    d = m.t.date
    if m.lang == "en":
        return en_date_long(d)
    if m.lang == "zh-TW":
        ap = "上午" if d.hour < 12 else "下午"
        h = d.hour % 12 or 12
        return f"{d.year}年{d.month}月{d.day}日 {ap} {h:02d}:{d.minute:02d}"
    if seconds:
        return f"{d.year}年{d.month}月{d.day}日 {d.hour}:{d.minute:02d}:{d.second:02d}"
    return f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}"


def outlook_block(m, form):
    """The header block. form: 'mailto' (Outlook 2010 `X [mailto:a]`), 'angle' (`X <a>`),
    'windows' (`X<mailto:a>`)."""
    t, L = m.t, outlook_labels(m)
    colon = ": "

    def who(name, a):
        if form == "mailto":
            return f"{name} [mailto:{a}] "
        if form == "windows":
            return f"{name}<mailto:{a}>"
        return f"{name} <{a}>"

    lines = [f"{L['from']}{colon}{who(t.sup[0], t.sup[1])}",
             f"{L['sent']}{colon}{outlook_sent(m, m.opts.get('seconds', False))}",
             f"{L['to']}{colon}{m.cust[0] if form == 'mailto' else who(m.cust[0], m.cust[1])}"]
    if t.cc:
        lines.append(f"{L['cc']}{colon}{t.cc[0] if form == 'mailto' else who(t.cc[0], t.cc[1])}")
    lines.append(f"{L['subject']}{colon}{t.prev_subject}")
    m.markers += [f"{L['from']}{colon}{t.sup[0]}", f"{L['sent']}{colon}"]
    if t.cc and L["cc"] != "Cc":
        m.markers.append(f"{L['cc']}{colon}")
    return lines


def outlook_subject_prefix(m):
    return {"zh": "答复: ", "zh-TW": "回覆: ", "en": "RE: "}[m.lang]


def outlook_charset(m):
    return {"zh": "gb2312", "zh-TW": "big5", "en": "us-ascii"}[m.lang]


def outlook_msgid(m):
    h = hexid(seed(m), 28)
    return f"<0000{h[:2]}db{h[2:8]}${h[8:16]}${h[16:24]}$@{m.cust[1].split('@')[1]}>"


def outlook_desktop_headers(m, cs, ctype_lines):
    t = m.t
    enc_cs = cs if cs != "us-ascii" else "utf-8"
    hs = [
        f"From: {addr(m.cust[0], m.cust[1], enc_cs)}",
        f"To: {addr(t.sup[0], t.sup[1], enc_cs)}",
    ]
    if t.cc:
        hs.append(f"Cc: {addr(t.cc[0], t.cc[1], enc_cs)}")
    hs += [
        f"References: <{t.prev_msgid}>",
        f"In-Reply-To: <{t.prev_msgid}>",
        f"Subject: {ew(m.subject(outlook_subject_prefix(m), replace_re=True), enc_cs)}",
        f"Date: {rfc_date(m.date)}",
        f"Message-ID: {outlook_msgid(m)}",
        "MIME-Version: 1.0",
        *ctype_lines,
        f"X-Mailer: {m.opts.get('mailer', 'Microsoft Outlook 16.0')}",
        f"Thread-Index: AQ{base64.b64encode(hashlib.sha256(seed(m).encode()).digest()).decode()[:30]}",
        f"Content-Language: {m.lang.lower() if m.lang != 'zh' else 'zh-cn'}",
    ]
    return hs


WORD_HEAD = (
    '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
    'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
    'xmlns="http://www.w3.org/TR/REC-html40"><head><meta http-equiv=Content-Type content="text/html; charset={cs}">'
    '<meta name=Generator content="Microsoft Word 15 (filtered medium)"><style><!--\r\n'
    '/* Font Definitions */\r\n@font-face\r\n\t{{font-family:等线;\r\n\tpanose-1:2 1 6 0 3 1 1 1 1 1;}}\r\n'
    'p.MsoNormal, li.MsoNormal, div.MsoNormal\r\n\t{{margin:0cm;\r\n\ttext-align:justify;\r\n\ttext-justify:inter-ideograph;\r\n'
    '\tfont-size:10.5pt;\r\n\tfont-family:等线;}}\r\nspan.EmailStyle18\r\n\t{{mso-style-type:personal-reply;\r\n'
    '\tfont-family:等线;\r\n\tcolor:windowtext;}}\r\n.MsoChpDefault\r\n\t{{mso-style-type:export-only;}}\r\n'
    '@page WordSection1\r\n\t{{size:612.0pt 792.0pt;\r\n\tmargin:72.0pt 90.0pt 72.0pt 90.0pt;}}\r\n'
    'div.WordSection1\r\n\t{{page:WordSection1;}}\r\n--></style></head>'
    '<body lang=ZH-CN link="#0563C1" vlink="#954F72" style=\'text-justify-trim:punctuation\'><div class=WordSection1>'
)


def word_head(cs):
    head = WORD_HEAD.format(cs=cs)
    if cs == "us-ascii":
        head = head.replace("等线", "Calibri").replace("lang=ZH-CN", "lang=EN-US")
    return head


def word_p(line):
    """A Word paragraph: Word splits ASCII runs into lang=EN-US spans."""
    if not line.strip():
        return "<p class=MsoNormal><span lang=EN-US><o:p>&nbsp;</o:p></span></p>"
    parts = re.split(r"([\x20-\x7e]+)", line)
    inner = "".join(f"<span lang=EN-US>{esc(p)}</span>" if p and ord(p[0]) < 128 else esc(p) for p in parts if p)
    return f"<p class=MsoNormal>{inner}<o:p></o:p></p>"


def word_block(lines):
    out = []
    for l in lines:
        k, _, v = l.partition(": ")
        out.append(f"<b>{esc(k)}<span lang=EN-US>:</span></b><span lang=EN-US> {esc(v)}<br></span>")
    return ('<div><div style=\'border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\'>'
            f"<p class=MsoNormal>{''.join(out)}</p></div></div>")


def render_outlook(m):
    """Outlook desktop. form 'html' (Outlook 2016+ reply: Word HTML and a generated plain part
    with the header block, no separator), 'orig' (plain-text reply, `-----邮件原件-----` /
    `-----原始郵件-----` / `-----Original Message-----` and `X [mailto:a]`), 'prefixed' (plain text
    with every quoted line prefixed `> `, as real/erofs/f24a2186691b.eml), 'underscore' (a rule of
    underscores above the block)."""
    t = m.t
    form = m.opts.get("form", "html")
    cs = m.opts.get("charset", outlook_charset(m))
    sep = {"zh": "-----邮件原件-----", "zh-TW": "-----原始郵件-----", "en": "-----Original Message-----"}[m.lang]
    if form == "orig":
        block = [sep, *outlook_block(m, "mailto")]
        m.markers.append(sep)
        plain = "\n".join([m.new, "", *block, "", *t.prev]) + "\n"
        part = text_part(plain, "plain", cs, "base64" if cs != "us-ascii" else "7bit", 'Content-Type: text/{sub};\n\tcharset="{cs}"')
        return message(outlook_desktop_headers(m, cs, []), part), None
    if form == "prefixed":
        block = [sep, *outlook_block(m, "angle")]
        m.markers.append(sep)
        q = lambda l: "> " + l
        if m.style == "inline":
            body = ["", "", *[q(l) for l in block], "> ", *m.inline_lines(q)]
        elif m.style == "bottom":
            body = ["", "", *[q(l) for l in block], "> ", *[q(l) for l in t.prev], "", m.new]
        else:
            body = [m.new, "", *[q(l) for l in block], "> ", *[q(l) for l in t.prev]]
        plain = "\n".join(body) + "\n"
        part = text_part(plain, "plain", cs, "base64" if cs != "us-ascii" else "7bit", 'Content-Type: text/{sub};\n\tcharset="{cs}"')
        return message(outlook_desktop_headers(m, cs, []), part), None
    block = outlook_block(m, "angle")
    pre = ["________________________________"] if form == "underscore" else ["", " "]
    if form == "underscore":
        m.markers.append("________________________________")
    plain = "\n".join([m.new, "", *pre, *block, "", " ", "", *t.prev]) + "\n"
    htm = (
        word_head(cs)
        + "".join(word_p(l) for l in m.new.split("\n"))
        + word_p("")
        + ('<div style="text-align:center;margin:0" align=center><hr size=2 width="98%" align=center></div>' if form == "underscore" else "")
        + word_block(block)
        + word_p("")
        + "".join(word_p(l) for l in t.prev)
        + "</div></body></html>"
    )
    b = f"----=_NextPart_000_{hexid(seed(m), 4).upper()}_01DB{hexid(seed(m, 'b'), 4).upper()}.{hexid(seed(m, 'c'), 8).upper()}"
    enc = "base64" if cs != "us-ascii" else "quoted-printable"
    body = Multi("alternative", b, [
        text_part(plain, "plain", cs, enc, 'Content-Type: text/{sub};\n\tcharset="{cs}"'),
        text_part(htm, "html", cs, "base64" if cs != "us-ascii" else "quoted-printable", 'Content-Type: text/{sub};\n\tcharset="{cs}"'),
    ], preamble="This is a multipart message in MIME format.")
    return message(outlook_desktop_headers(m, cs, body.content_type_lines()), body), None


def exchange_id(m):
    return f"TYZPR06MB{int(hexid(seed(m), 4), 16) % 10000:04d}{hexid(seed(m, 'x'), 28).upper()}"


def exchange_headers(m, cs, ctype_lines, prefix):
    t = m.t
    mid = exchange_id(m)
    host = mid[:13]
    return [
        f"From: {addr(m.cust[0], m.cust[1], 'utf-8')}",
        f"To: {addr(t.sup[0], t.sup[1], 'utf-8')}",
        f"Subject: {ew(m.subject(prefix, replace_re=True), 'utf-8')}",
        f"Thread-Topic: {ew(t.tag + ' ' + t.subject, 'utf-8')}",
        f"Thread-Index: AQ{base64.b64encode(hashlib.sha256(seed(m).encode()).digest()).decode()[:26]}",
        f"Date: {rfc_date(m.date.astimezone(UTC))}",
        f"Message-ID: <{mid}@{host}.apcprd06.prod.outlook.com>",
        f"References: <{t.prev_msgid}>",
        f"In-Reply-To: <{t.prev_msgid}>",
        f"Accept-Language: {'zh-CN' if m.lang.startswith('zh') else 'en-US'}, en-US",
        f"Content-Language: {'zh-CN' if m.lang == 'zh' else 'zh-TW' if m.lang == 'zh-TW' else 'en-US'}",
        "X-MS-Has-Attach:",
        "X-MS-TNEF-Correlator:",
        "msip_labels:",
        *ctype_lines,
        "MIME-Version: 1.0",
    ]


def owa_html(m, block, footer_html=""):
    t = m.t
    k = [l.partition(": ") for l in block]
    hdr = "<br>".join(f"<b>{esc(a)}:</b> {esc(c)}" for a, _, c in k)
    return (
        '<html><head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
        '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>\r\n'
        '</head>\r\n<body dir="ltr">\r\n<div class="elementToProof" style="font-family: Aptos, Aptos_EmbeddedFont, '
        'Aptos_MSFontService, Calibri, Helvetica, sans-serif; font-size: 12pt; color: rgb(0, 0, 0);">\r\n'
        + "".join(f"{esc(l)}<br>\r\n" if l.strip() else "<br>\r\n" for l in m.new.split("\n"))
        + "</div>\r\n" + footer_html
        + '<div id="appendonsend"></div>\r\n<hr style="display:inline-block;width:98%" tabindex="-1">\r\n'
        + '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" color="#000000">'
        + hdr + "</font>\r\n<div>&nbsp;</div>\r\n</div>\r\n<div>\r\n"
        + "".join(f"<div>{esc(l)}</div>\r\n" if l.strip() else "<div><br>\r\n</div>\r\n" for l in t.prev)
        + "</div>\r\n</body>\r\n</html>\r\n"
    )


def render_owa(m):
    """Outlook on the web / new Outlook: an underscore rule and the header block in plain text,
    `appendonsend` + `divRplyFwdMsg` in HTML (as real/erofs/4186f812a48e.eml). `html_only` drops
    the plain part (approximation: seen when the mail is relayed through gateways that keep only
    the HTML). `mobile` adds Outlook for iOS/Android's footer above the rule."""
    t = m.t
    block = outlook_block(m, "angle")
    if not m.opts.get("html_only"):
        m.markers.append("________________________________")
    footer = m.opts.get("mobile")
    foot_plain = []
    foot_html = ""
    if footer == "ios":
        text = "获取 Outlook for iOS" if m.lang == "zh" else "Get Outlook for iOS"
        foot_plain = [f"{text}<https://aka.ms/o0ukef>"]
        foot_html = f'<div id="ms-outlook-mobile-signature"><div>{esc(text.replace("Outlook for iOS", ""))}<a href="https://aka.ms/o0ukef">Outlook for iOS</a></div></div>\r\n'
    elif footer == "android":
        text = "获取 Outlook for Android" if m.lang == "zh" else "Get Outlook for Android"
        foot_plain = [f"{text}<https://aka.ms/AAb9ysg>"]
        foot_html = f'<div id="ms-outlook-mobile-signature"><div>{esc(text.replace("Outlook for Android", ""))}<a href="https://aka.ms/AAb9ysg">Outlook for Android</a></div></div>\r\n'
    plain = "\n".join([m.new, "", *foot_plain, "________________________________", *block, "", *t.prev]) + "\n"
    htm = owa_html(m, block, foot_html)
    if footer:
        m.expect_last = ""
        m.contains += [m.new.split("\n")[-1], foot_plain[0].split("<")[0]]
    mid = exchange_id(m)
    prefix = {"zh": "回复: ", "zh-TW": "回覆: ", "en": "Re: "}[m.lang]
    if m.opts.get("html_only"):
        part = text_part(htm, "html", "utf-8", "base64", 'Content-Type: text/{sub}; charset="{cs}"')
        hs = exchange_headers(m, "utf-8", part.headers[:1], prefix)
        part.headers = part.headers[1:]
        return message(hs, part), None
    b = f"_000_{mid}_"
    body = Multi("alternative", b, [
        text_part(plain, "plain", "utf-8", "base64", 'Content-Type: text/{sub}; charset="{cs}"'),
        text_part(htm, "html", "utf-8", "base64", 'Content-Type: text/{sub}; charset="{cs}"'),
    ])
    return message(exchange_headers(m, "utf-8", body.content_type_lines(), prefix), body), None


def render_windows_mail(m):
    """Windows 10/11 Mail: `发件人: X<mailto:a>` / `发送时间: 2025年4月29日 11:32` with no rule, after
    the app's `从 Windows 版邮件发送` footer (as real/erofs/103d42d646c8.eml, gb2312 base64)."""
    t = m.t
    block = outlook_block(m, "windows")
    cs = "gb2312" if m.lang == "zh" else "utf-8"
    if m.lang == "zh":
        foot = "从 Windows 版邮件<https://go.microsoft.com/fwlink/?LinkId=550986>发送"
    else:
        foot = "Sent from Mail<https://go.microsoft.com/fwlink/?LinkId=550986> for Windows"
    if m.opts.get("footer", True):
        # the footer is the sender's; its plain and HTML forms differ, so only the text is required
        m.expect_last = ""
        m.contains += [m.new.split("\n")[-1]]
    plain = "\n".join([m.new, "", *([foot, ""] if m.opts.get("footer", True) else []), *block, "", *t.prev]) + "\n"
    k = [l.partition(": ") for l in block]
    htm = (
        word_head(cs) + "".join(word_p(l) for l in m.new.split("\n")) + word_p("")
        + ((f'<p class=MsoNormal>从 Windows 版<a href="https://go.microsoft.com/fwlink/?LinkId=550986">邮件</a>发送</p>'
            if m.lang == "zh" else
            f'<p class=MsoNormal>Sent from <a href="https://go.microsoft.com/fwlink/?LinkId=550986">Mail</a> for Windows</p>')
           if m.opts.get("footer", True) else "")
        + word_p("")
        + '<div style=\'mso-element:para-border-div;border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\'>'
        + "".join(f"<p class=MsoNormal style='border:none;padding:0cm'><b>{esc(a)}: </b>{esc(c)}</p>" for a, _, c in k)
        + "</div>" + word_p("") + "".join(word_p(l) for l in t.prev) + "</div></body></html>"
    )
    mid = f"ME3P282MB{int(hexid(seed(m), 4), 16) % 10000:04d}{hexid(seed(m, 'x'), 24).upper()}"
    b = f"_000_{mid}ME3P282MB1938AUSP_"
    body = Multi("alternative", b, [
        text_part(plain, "plain", cs, "base64", 'Content-Type: text/{sub}; charset="{cs}"'),
        text_part(htm, "html", cs, "base64", 'Content-Type: text/{sub}; charset="{cs}"'),
    ], ct_fmt='Content-Type: multipart/{sub};\n boundary="{b}"')
    hs = [
        f"From: {addr(m.cust[0], m.cust[1], cs)}",
        f"To: {addr(t.sup[0], t.sup[1], cs)}",
        f"Subject: {ew(m.subject('Re: '), cs)}",
        f"Thread-Topic: {ew(t.prev_subject, cs)}",
        f"Thread-Index: AQ{base64.b64encode(hashlib.sha256(seed(m).encode()).digest()).decode()[:22]}",
        f"Date: {rfc_date(m.date.astimezone(UTC))}",
        f"Message-ID: <{mid}@{mid[:17]}.AUSP282.PROD.OUTLOOK.COM>",
        *refs(m),
        f"Accept-Language: {'zh-CN' if m.lang == 'zh' else 'en-US'}, en-US",
        f"Content-Language: {'zh-CN' if m.lang == 'zh' else 'en-US'}",
        *body.content_type_lines(),
        "MIME-Version: 1.0",
        "X-OriginatorOrg: outlook.com",
    ]
    return message(hs, body), None


# -- Apple Mail (macOS and iPhone) ---------------------------------------------------------------


def apple_attribution(m, ios=False):
    t, d = m.t, m.t.date
    if m.lang == "en":
        if ios:
            return f"On Apr {d.day}, {d.year}, at {d:%H:%M}, {t.sup[0]} <{t.sup[1]}> wrote:"
        return f"On {d.day} Apr {d.year}, at {d:%H:%M}, {t.sup[0]} <{t.sup[1]}> wrote:"
    if ios:
        return f"在 {d.year}年{d.month}月{d.day}日，{zh_ampm(d)}，{t.sup[0]} <{t.sup[1]}> 写道："
    return f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}，{t.sup[0]} <{t.sup[1]}> 写道："


def apple_headers(m, ctype_lines, cte=None, ios=False):
    t = m.t
    hs = [*ctype_lines]
    if cte:
        hs.append(f"Content-Transfer-Encoding: {cte}")
    hs += [
        "Mime-Version: 1.0 (1.0)" if ios else "Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3826.500.181.1.5\\))",
        f"Subject: {ew(m.subject('Re: '), 'utf-8')}",
        f"From: {addr(m.cust[0], m.cust[1], 'utf-8')}",
        f"In-Reply-To: <{t.prev_msgid}>",
        f"Date: {rfc_date(m.date)}",
    ]
    if t.cc:
        hs.append(f"Cc: {addr(t.cc[0], t.cc[1], 'utf-8')}")
    hs += [
        f"Message-Id: <{uuid_like(seed(m), upper=True)}@{m.cust[1].split('@')[1]}>",
        f"References: <{t.prev_msgid}>",
        f"To: {addr(t.sup[0], t.sup[1], 'utf-8')}",
        "X-Mailer: iPhone Mail (22D82)" if ios else "X-Mailer: Apple Mail (2.3826.500.181.1.5)",
    ]
    return hs


def render_apple(m):
    """Apple Mail on macOS: the attribution sits inside the quote (`> 2025年4月29日 11:32，X <a>
    写道：`, as real/erofs/f8f620fcf724.eml), plain part quoted-printable. Top, bottom (text
    typed below the blockquote) and inline. plain_mode: Format > Make Plain Text, where the
    attribution is not quoted."""
    t = m.t
    attribution = apple_attribution(m)
    plain_mode = m.opts.get("plain_mode")
    q = lambda l: "> " + l if l else ">"
    aq = attribution if plain_mode else q(attribution)
    if m.style == "top":
        lines = [m.new, "", aq, *([] if plain_mode else [">"]), *[q(l) for l in t.prev]]
    elif m.style == "bottom":
        lines = [aq, ">", *[q(l) for l in t.prev], "", m.new]
    else:
        lines = [aq, ">", *m.inline_lines(q)]
    plain = "\n".join(lines) + "\n"
    m.markers += ["写道：" if m.lang != "en" else "wrote:", f"{t.sup[0]} <{t.sup[1]}>"]
    if plain_mode:
        hs = apple_headers(m, ["Content-Type: text/plain;", "\tcharset=utf-8"], cte="quoted-printable")
        return message(hs, Part([], body_bytes(plain, "utf-8", "quoted-printable"))), None
    div = lambda l: f"<div>{esc(l)}</div>" if l.strip() else "<div><br></div>"
    cite = lambda inner: f'<blockquote type="cite"><div>{inner}</div></blockquote>'
    head_attr = f"<div>{esc(attribution)}</div><br class=\"Apple-interchange-newline\">"
    if m.style == "top":
        inner_html = "".join(div(l) for l in m.new.split("\n")) + f'<div><br>{cite(head_attr + "".join(div(l) for l in t.prev))}</div>'
    elif m.style == "bottom":
        inner_html = f'<div>{cite(head_attr + "".join(div(l) for l in t.prev))}</div>' + "<div><br></div>" + "".join(div(l) for l in m.new.split("\n"))
    else:
        inner_html = f'<blockquote type="cite">{head_attr}</blockquote>' + m.html_inline(
            '<blockquote type="cite">', "</blockquote>", div, div)
    htm = ('<html aria-label="邮件正文"><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
           '<body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">'
           + inner_html + "</body></html>")
    b = f"Apple-Mail={uuid_like(seed(m, 'b'), upper=True)}"
    body = Multi("alternative", b, [
        Part(["Content-Transfer-Encoding: quoted-printable", "Content-Type: text/plain;", "\tcharset=utf-8"],
             body_bytes(plain, "utf-8", "quoted-printable")),
        Part(["Content-Transfer-Encoding: quoted-printable", "Content-Type: text/html;", "\tcharset=utf-8"],
             body_bytes(htm, "utf-8", "quoted-printable")),
    ])
    return message(apple_headers(m, body.content_type_lines()), body), None


def render_iphone(m):
    """Mail on iPhone: top-posted, `发自我的iPhone` / `Sent from my iPhone`, then the quoted
    attribution `> 在 2025年4月29日，上午11:32，X <a> 写道：` / `> On Apr 29, 2025, at 11:32, X <a>
    wrote:`; plain text only, quoted-printable. The zh attribution wording is an approximation."""
    t = m.t
    attribution = apple_attribution(m, ios=True)
    q = lambda l: "> " + l if l else ">"
    foot = m.opts.get("footer", "发自我的iPhone" if m.lang != "en" else "Sent from my iPhone")
    lines = [m.new, "", foot, "", q(attribution), ">", *[q(l) for l in t.prev]]
    plain = "\n".join(lines) + "\n"
    m.markers += ["写道：" if m.lang != "en" else "wrote:"]
    m.footer = foot
    hs = apple_headers(m, ["Content-Type: text/plain;", "\tcharset=utf-8"], cte="quoted-printable", ios=True)
    return message(hs, Part([], body_bytes(plain, "utf-8", "quoted-printable"))), None


# -- Gmail -------------------------------------------------------------------------------------


def gmail_attribution(m):
    """Gmail wraps the attribution of a long name at the last space before column 78."""
    t, d = m.t, m.t.date
    if m.opts.get("mobile"):
        return [f"在 {d.year}年{d.month}月{d.day}日星期{zh_weekday(d)}，{t.sup[0]} <{t.sup[1]}> 写道："]
    if m.lang == "en":
        line = f"On {d:%a, %b} {d.day}, {d.year} at {en_time12(d)} {t.sup[0]} <{t.sup[1]}> wrote:"
    else:
        line = f"{t.sup[0]} <{t.sup[1]}> 于{d.year}年{d.month}月{d.day}日周{zh_weekday(d)} {d:%H:%M}写道："
    if m.opts.get("wrap", True) and len(line) > 78:
        cut = line.rfind(" ", 0, len(line) - 6)
        return [line[:cut], line[cut + 1 :]]
    return [line]


def render_gmail(m):
    """Gmail: the attribution above the quote, wrapped onto two lines when the sender's name is
    long; `gmail_quote` / `gmail_attr` in HTML; UTF-8, base64 when mostly Chinese."""
    t = m.t
    attr_lines = gmail_attribution(m)
    q = lambda l: "> " + l if l else ">"
    if m.style == "top":
        lines = [m.new, "", *attr_lines, "", *[q(l) for l in t.prev]]
    elif m.style == "bottom":
        lines = [*attr_lines, "", *[q(l) for l in t.prev], "", m.new]
    else:
        lines = ([m.head, ""] if m.head else []) + [*attr_lines, "", *m.inline_lines(q)]
    plain = "\n".join(lines) + "\n"
    last = attr_lines[-1]
    m.markers += [last if len(last) < 16 else last[-12:], attr_lines[0][:20]]
    div = lambda l: f"<div>{esc(l)}</div>" if l.strip() else "<div><br></div>"
    attr_html = esc(" ".join(attr_lines)).replace(f"&lt;{t.sup[1]}&gt;", f'&lt;<a href="mailto:{t.sup[1]}">{t.sup[1]}</a>&gt;')
    bq_open = '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">'
    qhead = f'<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">{attr_html}<br></div>'
    if m.style == "top":
        htm = f'<div dir="ltr">{"".join(div(l) for l in m.new.split(chr(10)))}</div><br>{qhead}{bq_open}{"".join(div(l) for l in t.prev)}</blockquote></div>'
    elif m.style == "bottom":
        htm = f'<div dir="ltr"><br></div><br>{qhead}{bq_open}{"".join(div(l) for l in t.prev)}</blockquote><div><br></div>{"".join(div(l) for l in m.new.split(chr(10)))}</div>'
    else:
        head = "".join(div(l) for l in m.head.split("\n")) if m.head else ""
        htm = f'<div dir="ltr">{head}</div><br>{qhead}' + m.html_inline(bq_open, "</blockquote>", div, div) + "</div>"
    htm += "\r\n"
    cte = "base64" if m.lang != "en" else "quoted-printable"
    b = f"0000000000{hexid(seed(m, 'b'), 18)}"
    body = Multi("alternative", b, [
        text_part(plain, "plain", "UTF-8", cte, 'Content-Type: text/{sub}; charset="{cs}"'),
        text_part(htm, "html", "UTF-8", cte, 'Content-Type: text/{sub}; charset="{cs}"'),
    ], ct_fmt='Content-Type: multipart/{sub}; boundary="{b}"')
    hs = [
        "MIME-Version: 1.0",
        f"References: <{t.prev_msgid}>",
        f"In-Reply-To: <{t.prev_msgid}>",
        f"From: {addr(m.cust[0], m.cust[1], 'UTF-8')}",
        f"Date: {rfc_date(m.date)}",
        f"Message-ID: <CA{base64.b64encode(hashlib.sha256(seed(m).encode()).digest()).decode()[:40].replace('/', '_')}@mail.gmail.com>",
        f"Subject: {ew(m.subject('Re: '), 'UTF-8')}",
        f"To: {addr(t.sup[0], t.sup[1], 'UTF-8')}",
        *body.content_type_lines(),
    ]
    return message(hs, body), None


# -- Thunderbird, Evolution, Mutt ------------------------------------------------------------------


def tb_attribution(m):
    t, d = m.t, m.t.date
    if m.lang == "en":
        return f"On {d.year}/{d.month}/{d.day} {d:%H:%M}, {t.sup[0]} wrote:"
    return f"在 {d.year}/{d.month}/{d.day} {d:%H:%M}, {t.sup[0]} 写道:"


def render_thunderbird(m):
    """Thunderbird: `On 2025/4/29 11:32, X wrote:` / `在 2025/4/29 11:32, X 写道:` (as
    real/erofs/b79cb71fbcc3.eml), plain text, format=flowed, 8bit UTF-8; bottom-posting is its
    default, inline common, top with reply_on_top. html=True sends the HTML editor's
    multipart with `moz-cite-prefix` and `<blockquote type="cite">`."""
    t = m.t
    attribution = tb_attribution(m)
    q = lambda l: "> " + l if l else ">"
    if m.style == "top":
        lines = [m.new, "", attribution, *[q(l) for l in t.prev]]
    elif m.style == "bottom":
        lines = [attribution, *[q(l) for l in t.prev], "", m.new]
    elif m.style == "none":
        lines = [m.new]
    else:
        lines = ([m.head, ""] if m.head else []) + [attribution, *m.inline_lines(q)]
    plain = "\n".join(lines) + "\n"
    if m.style != "none":
        m.markers += ["wrote:" if m.lang == "en" else "写道:", attribution[: attribution.index(",")]]
    dom = m.cust[1].split("@")[1]
    hs = [
        f"Message-ID: <{uuid_like(seed(m))}@{dom}>",
        f"Date: {m.date.strftime('%a, %-d %b %Y %H:%M:%S %z')}",
        "MIME-Version: 1.0",
        "User-Agent: Mozilla Thunderbird",
        f"Subject: {ew(m.subject('Re: '), 'UTF-8')}",
        f"To: {addr(t.sup[0], t.sup[1])}",
        f"References: <{t.prev_msgid}>",
        f"Content-Language: {'en-US' if m.lang == 'en' else 'zh-CN'}",
        f"From: {addr(m.cust[0], m.cust[1])}",
        f"In-Reply-To: <{t.prev_msgid}>",
    ]
    if not m.opts.get("html"):
        part = text_part(plain, "plain", "UTF-8", "8bit", "Content-Type: text/{sub}; charset={cs}; format=flowed")
        return message(hs, part), "UTF-8"
    p = lambda l: f"<p>{esc(l)}</p>" if l.strip() else "<p><br></p>"
    bq = f'<blockquote type="cite" cite="mid:{t.prev_msgid}">'
    pre = lambda ls: '<pre class="moz-quote-pre" wrap="">' + "\n".join(esc(l) for l in ls) + "\n</pre>"
    cite = f'<div class="moz-cite-prefix">{esc(attribution)}<br></div>'
    if m.style == "top":
        inner = "".join(p(l) for l in m.new.split("\n")) + cite + bq + pre(t.prev) + "</blockquote>"
    elif m.style == "bottom":
        inner = cite + bq + pre(t.prev) + "</blockquote>" + "".join(p(l) for l in m.new.split("\n"))
    else:
        inner = cite + m.html_inline(bq + '<pre class="moz-quote-pre" wrap="">', "</pre></blockquote>",
                                     lambda l: esc(l) + "\n", p)
    htm = ('<!DOCTYPE html>\r\n<html>\r\n  <head>\r\n    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">\r\n'
           f"  </head>\r\n  <body>\r\n    {inner}\r\n  </body>\r\n</html>\r\n")
    b = f"------------{hexid(seed(m, 'b'), 24)}"
    body = Multi("alternative", b, [
        text_part(plain, "plain", "UTF-8", "8bit", "Content-Type: text/{sub}; charset={cs}; format=flowed"),
        text_part(htm, "html", "UTF-8", "8bit", "Content-Type: text/{sub}; charset={cs}"),
    ], preamble="This is a multi-part message in MIME format.", ct_fmt='Content-Type: multipart/{sub};\n boundary="{b}"')
    return message(hs + body.content_type_lines(), body), "UTF-8"


def render_evolution(m):
    """Evolution: `On Tue, 2025-04-29 at 11:32 +0800, X wrote:`, plain 8bit UTF-8; the zh_CN
    wording `在 2025-04-29星期二的 11:32 +0800，X写道：` is an approximation of its translation."""
    t, d = m.t, m.t.date
    if m.lang == "en":
        attribution = f"On {d:%a, %Y-%m-%d} at {d:%H:%M %z}, {t.sup[0]} wrote:"
        m.markers += ["wrote:", f"at {d:%H:%M %z}"]
    else:
        attribution = f"在 {d:%Y-%m-%d}星期{zh_weekday(d)}的 {d:%H:%M %z}，{t.sup[0]}写道："
        m.markers += ["写道：", f"{d:%H:%M %z}"]
    q = lambda l: "> " + l if l else ">"
    if m.style == "bottom":
        lines = [attribution, *[q(l) for l in t.prev], "", m.new]
    elif m.style == "top":
        lines = [m.new, "", attribution, *[q(l) for l in t.prev]]
    else:
        lines = ([m.head, ""] if m.head else []) + [attribution, *m.inline_lines(q)]
    sig = m.opts.get("sig")
    if sig:
        lines += ["", "-- ", *sig.split("\n")]
    plain = "\n".join(lines) + "\n"
    part = text_part(plain, "plain", "UTF-8", "8bit", 'Content-Type: text/{sub}; charset="{cs}"')
    hs = [
        f"Message-ID: <{hexid(seed(m), 40)}.camel@{m.cust[1].split('@')[1]}>",
        f"Subject: {ew(m.subject('Re: '), 'UTF-8')}",
        f"From: {addr(m.cust[0], m.cust[1], 'UTF-8')}",
        f"To: {addr(t.sup[0], t.sup[1], 'UTF-8')}",
        f"Date: {rfc_date(m.date)}",
        *refs(m),
        "User-Agent: Evolution 3.46.4-2 ",
        "MIME-Version: 1.0",
    ]
    # Evolution puts Content-Type after User-Agent and the CTE last
    part.headers = [part.headers[0]] + hs[-2:-1] + [hs[-1]] + [part.headers[1]]
    return message(hs[:-2], part), "UTF-8"


def render_mutt(m):
    """Mutt / NeoMutt: default `On Tue, Apr 29, 2025 at 11:32:10AM +0800, X wrote:` or the common
    custom attribution `* X <a> [2025-04-29 11:32]:`; plain, `-- ` signature."""
    t, d = m.t, m.t.date
    if m.opts.get("star"):
        attribution = f"* {t.sup[0]} <{t.sup[1]}> [{d:%Y-%m-%d %H:%M}]:"
        m.markers += [f"* {t.sup[0]} <{t.sup[1]}>"]
    else:
        attribution = f"On {d:%a, %b %d, %Y at %I:%M:%S%p %z}, {t.sup[0]} wrote:"
        m.markers += ["wrote:" if m.lang == "en" else attribution[-12:], f"{d:%I:%M:%S%p}"]
    q = lambda l: "> " + l if l else ">"
    if m.style == "bottom":
        lines = [attribution, *[q(l) for l in t.prev], "", m.new]
    else:
        lines = ([m.head, ""] if m.head else []) + [attribution, *m.inline_lines(q)]
    sig = m.opts.get("sig")
    if sig:
        lines += ["", "-- ", *sig.split("\n")]
    plain = "\n".join(lines) + "\n"
    ascii_only = all(ord(c) < 128 for c in plain)
    cs = "us-ascii" if ascii_only else "utf-8"
    hs = [
        f"Date: {rfc_date(m.date)}",
        f"From: {addr(m.cust[0], m.cust[1], 'utf-8')}",
        f"To: {addr(t.sup[0], t.sup[1], 'utf-8')}",
        f"Subject: {ew(m.subject('Re: '), 'utf-8')}",
        f"Message-ID: <{m.date.astimezone(UTC):%Y%m%d%H%M%S}.GA{int(hexid(seed(m), 4), 16) % 100000}@{m.cust[1].split('@')[1]}>",
        f"References: <{t.prev_msgid}>",
        "MIME-Version: 1.0",
        f"Content-Type: text/plain; charset={cs}",
        "Content-Disposition: inline",
    ]
    if not ascii_only:
        hs.append("Content-Transfer-Encoding: 8bit")
    hs += [f"In-Reply-To: <{t.prev_msgid}>", "User-Agent: Mutt/2.2.12 (2023-09-09)"]
    return message(hs, Part([], crlf(plain))), "utf-8" if not ascii_only else None


# ---- the built customer replies ---------------------------------------------------------------

z1, z2, z3, z4, z5 = T["z1"], T["z2"], T["z3"], T["z4"], T["z5"]


def long_named(key, base, name):
    """A copy of `base` sent under a long display name (Gmail wraps its attribution)."""
    t = Thread(key, base.lang, base.ticket, base.subject, base.cust, (name, base.sup[1]),
               "\n".join(base.prev), base.hist, base.date, base.cc)
    T[key] = t
    return t


long_named("z1g", T["z1"], "Example Hosting Cloud Services 技术支持中心（7×24 小时值班）")
long_named("z2g", T["z2"], "Example Hosting Cloud Services 技术支持中心（7×24 小时值班）")
long_named("e2g", T["e2"], "Example Hosting Customer Support Team")
e1, e2, e3 = T["e1"], T["e2"], T["e3"]

QQ_Z1 = ("张三", "1847562931@qq.com")
QQ_Z2 = ("王芳", "wangfang0512@qq.com")
QQ_E1 = ("Tom Baker", "tombaker88@qq.com")
QQ_E2 = ("Maria Lopez", "marialopez@foxmail.com")
QQ_Z4 = ("刘洋", "liuyang_1988@qq.com")
N163_Z1 = ("张三", "zhangsan_sh@163.com")
N163_Z2 = ("王芳", "wangfang_gz@126.com")
N163_E2 = ("Maria Lopez", "maria.lopez@163.com")

BUILT = []


def built(*a, **kw):
    m = Mail(*a, **kw)
    BUILT.append(m)
    return m


# QQ Mail
built("built/qq-top-zh.eml", "QQ Mail", render_qq_classic, "top", z1, cust=QQ_Z1, new="""
李工，您好：

昨天下午我们确实装了一个商城插件，已经先停用了。
出问题的主要是 /checkout 和 /cart 两个页面，今晚 22:00 可以重启。

谢谢！
张三
""")
built("built/qq-top-nbsp-zh.eml", "QQ Mail", render_qq_modern, "top", z2, cust=QQ_Z2, new="""
赵工好，

按您说的重新输入了密码，端口也改成了 465，现在可以正常发信了。
截图就不用发了，谢谢！

王芳
销售部  电话 021-5555 0188
""", nbsp_in_new=True, note="the plain part keeps `&nbsp;` in the sender's own text too (a double space became `&nbsp; `); the reply text must show spaces")
built("built/qq-top-en.eml", "QQ Mail (English UI)", render_qq_en, "top", e1, cust=QQ_E1, new="""
Hi Alice,

No other plugins were touched. Please go ahead with the rollback.

Thanks,
Tom
""", faithful="approximation", note="the English UI's two spaces after From:/Date: are from memory")
built("built/qq-bottom-gt-en.eml", "QQ Mail", render_qq_gt, "bottom", e2, cust=QQ_E2, new="""
Please raise the quota to 25 GB. And the old alias can be deleted.

Regards,
Maria
""", note="plain part only, quoted with literal `&gt; ` like real/erofs/202e1a513bf9.eml")
built("built/qq-inline-gt-zh.eml", "QQ Mail", render_qq_gt, "inline", z4, cust=QQ_Z4, charset="GB18030",
      answers=[("1. 是否恢复到", "是的，恢复到 28 日凌晨 3 点。"), ("2. 恢复期间", "可以，最好安排在中午 12:00 到 12:30 之间。")],
      tail="刘洋", faithful="approximation", note="the zh attribution of QQ's plain-text reply is a guess; the `&gt;` quoting is as in real/erofs/202e1a513bf9.eml")
built("built/qq-mobile-top-zh.eml", "QQ Mail (iPhone app)", render_qq_mobile, "top", z4, cust=QQ_Z4, new="""
确认恢复到 28 日 03:00，中午 12 点以后停机都可以。

刘洋


发自我的iPhone
""", faithful="approximation")
built("built/qq-2024-top-zh.eml", "QQ Mail (2024 editor)", render_qq_2024, "top", z3,
      cust=("陈伟", "chenwei_ad@qq.com"), new="""
周工，确认续期。
DNS 一直指向你们的服务器，没有改过。

陈伟
""", faithful="approximation", note="layout after FreeScout's test of QQ's newer `Original` table; zh labels guessed")

# Tencent Exmail (same editor as QQ Mail, company domains, bizmail headers)
built("built/exmail-top-zh.eml", "Tencent Exmail", render_qq_classic, "top", z3, new="""
周工，您好：

确认续期。DNS 一直指向你们的服务器，没有做过任何变动。

陈伟
创意广告有限公司 技术部
""", note="Exmail uses QQ Mail's editor; headers as QQ Mail with X-QQ-mid bizmail")
built("built/exmail-top-en.eml", "Tencent Exmail (English UI)", render_qq_en, "top", e2, charset="UTF-8", exmail=True, new="""
Hi Bob,

Please raise the quota to 25 GB, the extra cost is fine.

Maria Lopez
Studio Lopez | +34 600 000 111
""", faithful="approximation")
built("built/exmail-wecom-html-only-zh.eml", "Tencent Exmail (WeCom app)", render_exmail_html_only, "top", z4, new="""
收到，确认恢复到 28 日 03:00。
停机安排在中午 12 点以后。

刘洋
""", faithful="approximation", note="HTML only")

# Foxmail
built("built/foxmail-top-zh.eml", "Foxmail", render_foxmail, "top", z1, new="""
收到，今晚十点重启没问题，重启前请打我电话 138 0013 8000。

张三
示例科技 运维部
""", sig="zhang.san@customer.example", note="the hidden 210px rule becomes a line of underscores above the signature, not above the header block")
built("built/foxmail-top-en.eml", "Foxmail (English UI)", render_foxmail, "top", e3, charset="utf-8", new="""
Hi Alice,

Both records have been in place since 10:40 this morning.

Regards,
Kenji Sato
""", sig="Kenji Sato | Travel New", faithful="approximation", note="English labels From/Date/To/Subject assumed")
built("built/foxmail-inline-plain-en.eml", "Foxmail (plain-text mode)", render_foxmail_plain, "inline", e1,
      head="Hi Alice,", answers=[("1. Did you update", "No, only WooCommerce was updated."),
                                 ("2. May we roll", "Yes, please roll it back now.")],
      tail="Thanks,\nTom", note="`>` with no space and no attribution, as real/erofs/533eca62621b.eml")
built("built/foxmail-inline-plain-zh.eml", "Foxmail (plain-text mode)", render_foxmail_plain, "inline", z2,
      charset="gb2312", answers=[("1. 在客户端中", "已经重新输入，还是不行。"), ("2. 确认 SMTP", "端口是 465，SSL 也勾选了。"),
                                 ("3. 如果仍然失败", "截图稍后补发给您。")], tail="王芳", trim_lead=True)
built("built/foxmail-top-gb18030-zh.eml", "Foxmail", render_foxmail, "top", z4, charset="gb18030",
      mailer="Foxmail 7.2.23.116[cn]", new="""
李工，

确认恢复到 4 月 28 日 03:00，停机 20 分钟可以接受，中午以后都行。

刘洋
""", sig="刘洋 | 生产部")

# 163 / 126
built("built/163-top-zh.eml", "163 webmail", render_netease, "top", z1, cust=N163_Z1, new="""
李工好，

插件已经停用了，出问题的是 /checkout 页面。今晚 22:00 重启可以。

张三
""")
built("built/163-bottom-zh.eml", "163 webmail", render_netease, "bottom", z2, cust=N163_Z2, box="126", new="""
试过了，第 2 步改完端口就好了，谢谢赵工！

王芳
""", note="bottom-posted like real/erofs/6cd4320a9c5c.eml")
built("built/163-top-en.eml", "163 webmail (English UI)", render_netease, "top", e2, cust=N163_E2, charset="UTF-8", new="""
Hi Bob,

Option 1 please, the extra 3 EUR is fine.

Maria
""")
built("built/126-bottom-en.eml", "126 webmail (English UI)", render_netease, "bottom", e1,
      cust=("Tom Baker", "tom.baker@126.com"), box="126", charset="UTF-8", new="""
Thanks Alice, please roll it back. Nothing else changed on our side.

Tom
""")
built("built/126-inline-zh.eml", "126 webmail", render_netease, "inline", z4, cust=("刘洋", "liuyang_factory@126.com"),
      box="126", answers=[("1. 是否恢复到", "是的，恢复到 28 日凌晨 3 点。"), ("2. 恢复期间", "可以接受，中午 12 点以后都行。")],
      tail="刘洋")
built("built/126-top-plain-nbsp-zh.eml", "126 webmail (plain text)", render_netease_plain_nbsp, "top", z3,
      cust=("陈伟", "chenwei_agency@126.com"), new="""
周工 好
确认 续期，DNS 没有 改动。
陈伟
""", note="every space of the sender's text is a literal `&nbsp;`, the attribution follows without a blank line, as real/erofs/7e4be010a1c8.eml")

# Coremail enterprise
built("built/coremail-bottom-zh.eml", "Coremail enterprise webmail", render_coremail, "bottom", z1,
      cust=("张三", "zhangsan@mail.shili-keji.example"), new="""
三个问题一起回复：插件昨天已经停用，出问题的是 /checkout 页面，今晚可以重启。

张三
""", note="as real/target-devel/f3ba7f6bcdbc.eml")
built("built/coremail-bottom-en.eml", "Coremail enterprise webmail (English UI)", render_coremail, "bottom", e3,
      cust=("Kenji Sato", "kenji@mail.travel.example"), new="""
Done, both records are live since 10:40 this morning.

Kenji
""", faithful="approximation", note="`-----Original Messages-----` / `Sent Time:` from memory")
built("built/coremail-top-zh.eml", "Coremail enterprise webmail", render_coremail, "top", z4,
      cust=("刘洋", "liuyang@mail.factory.example"), new="""
李工，确认恢复到 4 月 28 日 03:00。

停机安排在中午 12:00 以后。

刘洋
生产管理部
""", faithful="approximation", note="rich-text top-post; the HTML blockquote markup is from memory")
built("built/coremail-inline-zh.eml", "Coremail enterprise webmail", render_coremail, "inline", z2,
      cust=("王芳", "wangfang@mail.shop.example"), answers=[("1. 在客户端中", "已经重新输入了。"),
                                                          ("3. 如果仍然失败", "还是失败，截图稍后发您。")], tail="王芳")

# NetEase MailMaster / FlashMail
built("built/mailmaster-top-zh.eml", "NetEase MailMaster (desktop)", render_mailmaster, "top", z1, cust=N163_Z1, new="""
李工，插件已经停用，今晚可以重启。
""", faithful="approximation", note="the signature card renders as `| |` lines between the text and the quote")
built("built/mailmaster-mobile-top-zh.eml", "NetEase MailMaster (mobile)", render_mailmaster, "top", z2, cust=N163_Z2,
      variant="mobile", new="""
好的，我按步骤试一下。
""", faithful="approximation", note="ends with `发自网易邮箱大师`; the footer is the sender's (kept)")
built("built/mailmaster-top-en.eml", "NetEase MailMaster (English UI)", render_mailmaster, "top", e2, cust=N163_E2, new="""
Hi Bob, option 1 please.

Maria
""", faithful="approximation")
built("built/flashmail-top-zh.eml", "NetEase FlashMail", render_flashmail, "top", z3,
      cust=("陈伟", "chenwei_work@163.com"), new="""
周工好，确认续期，DNS 没有变动。

陈伟
""", faithful="approximation")
built("built/flashmail-bottom-zh.eml", "NetEase FlashMail", render_flashmail, "bottom", z1, cust=N163_Z1, new="""
插件已停用，今晚 22:00 可以重启。

张三
""", faithful="approximation")

# Alimail
built("built/alimail-top-zh.eml", "Alimail", render_alimail, "top", z1,
      cust=("张三", "zhangsan@shili-keji.example"), new="""
李工，您好：

插件昨天下午已经停用，出问题的是 /checkout 和 /cart。
今晚 22:00 可以重启。

张三
""", note="66-dash rule and 发件人：…抄　送：…主　题： as in Alimail replies in public archives")
built("built/alimail-plain-top-zh.eml", "Alimail", render_alimail, "top", z4,
      cust=("刘洋", "liuyang@factory.example"), multipart=False, new="""
确认恢复到 28 日 03:00，中午 12 点后停机可以。
刘洋
""", note="text/plain only, QUOTED-PRINTABLE, as the archived Alimail replies")
built("built/dingtalk-top-zh.eml", "Alimail (DingTalk)", render_alimail, "top", z2,
      cust=("王芳", "wangfang@shop.example"), dingtalk=True, new="""
赵工，已经按步骤改好，可以正常发信了，谢谢。
""", note="`来自钉钉专属商务邮箱` glued to the rule, 日　期： label, as an archived DingTalk reply")
built("built/alimail-bottom-en.eml", "Alimail", render_alimail, "bottom", e1,
      cust=("Tom Baker", "tom@bakery.example"), short_weekday=True, new="""
Thanks for the quick reply!
No other plugins were touched, please roll back to 8.6.1.

Tom
""", faithful="approximation", note="hard: the original is unquoted under the header block and only the sender's `>>>>>>` line marks where the answer starts (pattern of a real netdev exchange)")
built("built/alimail-top-en.eml", "Alimail (English UI)", render_alimail, "top", e3,
      cust=("Kenji Sato", "kenji@travel.example"), new="""
Hi Alice, both records are in place.

Kenji
""", faithful="approximation", note="English labels From:/Send Time: guessed")

# HMail, NSMAIL, Huawei
built("built/hmail-bottom-zh.eml", "HMail", render_hmail, "bottom", z1,
      cust=("张三", "zhangsan@shili-keji.example"), new="""
李工，插件已经停用了；出问题的是 /checkout 页面；今晚可以重启。

张三
""", faithful="approximation")
built("built/hmail-bottom-en.eml", "HMail", render_hmail, "bottom", e2,
      cust=("Maria Lopez", "maria@studio.example"), new="""
Option 1, please. The alias can go.

Maria
""", faithful="approximation")
built("built/hmail-top-zh.eml", "HMail", render_hmail, "top", z3,
      cust=("陈伟", "chenwei@agency.example"), new="""
确认续期，谢谢周工。

陈伟
""", faithful="approximation")
built("built/nsmail-bottom-zh.eml", "NSMAIL", render_nsmail, "bottom", z2,
      cust=("王芳", "wangfang@shop.example"), new="""
赵工，按第 2 步改完端口以后就正常了。

王芳
""", faithful="approximation")
built("built/nsmail-top-zh.eml", "NSMAIL", render_nsmail, "top", z4,
      cust=("刘洋", "liuyang@factory.example"), new="""
李工，确认恢复，停机放在中午。

刘洋
""", faithful="approximation")
built("built/huawei-top-zh.eml", "Huawei Email (phone)", render_huawei, "top", z1,
      cust=("张三", "zhangsan@shili-keji.example"), new="""
好的，今晚可以重启。
""", faithful="approximation", note="footer `来自: 华为手机` is the sender's (kept)")
BUILT[1].expect_last = "电话 021-5555 0188"

# Nasty cases: header-like lines in the sender's own text, no quote at all
built("built/outlook-zh-top-pasted-headers.eml", "Outlook zh-CN (desktop)", render_outlook, "top", z2, form="underscore",
      cust=("王芳", "wang.fang@shop.example"), new="""
赵工，

另外还有一个问题：客户说收不到我们网站发出的订单确认邮件，下面是我们系统里记下的邮件头：

From: noreply@shop.example
To: buyer@example.net
Subject: 订单确认 #20250429-0132
Date: Tue, 29 Apr 2025 13:20:11 +0800

麻烦帮忙查一下是不是被退信了。

王芳
""", contains=["Subject: 订单确认 #20250429-0132", "麻烦帮忙查一下是不是被退信了。"],
      note="the customer pasted a From:/To:/Subject: block into their own text: it is not a quote boundary (the real one is the rule below)")
built("built/thunderbird-none-zh.eml", "Thunderbird zh", render_thunderbird, "none", z4, new="""
李工，

确认恢复到 28 日 03:00。

在 4 月 29 日的邮件里，您写道：
“恢复后，4 月 28 日 03:00 之后写入的数据都会被覆盖”，
请问能不能只恢复 orders 这一张表？

刘洋
""", contains=["在 4 月 29 日的邮件里，您写道：", "请问能不能只恢复 orders 这一张表？"],
      note="the sender deleted the whole quote; a line of their own reads like a `在 … 写道：` attribution")

# Outlook desktop zh-CN / zh-TW / en
built("built/outlook-zh-top-orig.eml", "Outlook zh-CN (desktop, plain-text reply)", render_outlook, "top", z1,
      form="orig", mailer="Microsoft Outlook 14.0", new="""
李工：

插件已停用，出问题的页面是 /checkout 和 /cart，今晚 22:00 可以重启。

张三
""", note="`-----邮件原件-----` + `发件人: X [mailto:a]` (Outlook 2010 plain-text reply)")
built("built/outlook-zh-top-html.eml", "Outlook zh-CN (desktop)", render_outlook, "top", z2,
      cust=("王芳", "wang.fang@shop.example"), new="""
赵工：

密码已经重新输入，端口也改成 465 了，现在可以发信。

谢谢！
王芳
""", note="Outlook 2016+ HTML reply: no separator, the plain part's header block after a ` ` line")
built("built/outlook-zh-top-underscore.eml", "Outlook zh-CN (desktop)", render_outlook, "top", z4, form="underscore",
      cust=("刘洋", "liu.yang@factory.example"), new="""
李工，确认恢复到 28 日 03:00，停机可以接受。

刘洋
""")
built("built/outlook-zh-top-padded.eml", "Outlook zh-CN (desktop, padded labels)", render_outlook, "top", z1,
      padded=True, new="""
李工好，

今晚 22:00 重启没问题，插件已经停掉了。

张三
""", faithful="approximation", note="`抄　送:` / `主　题:` padded with U+3000 as issue 13 reports")
built("built/outlook16-zh-bottom.eml", "Outlook 16 zh-CN (plain text, prefixed quote)", render_outlook, "bottom", z2,
      form="prefixed", cust=("王芳", "wang.fang@shop.example"), new="""
赵工，第 2 步改完就好了，谢谢。

王芳
""", note="the whole quote `> `-prefixed first, answer below, as real/erofs/f24a2186691b.eml")
built("built/outlook16-zh-inline.eml", "Outlook 16 zh-CN (plain text, prefixed quote)", render_outlook, "inline", z1,
      form="prefixed", answers=[("1. 最近是否", "是的，昨天下午装了一个商城插件，现在已经停用。"),
                                ("2. 出现 502", "主要是 /checkout 和 /cart 两个页面。"),
                                ("3. 今晚 22:00", "可以，今晚 22:00 重启没问题。")], tail="张三")
built("built/outlook-tw-top-orig.eml", "Outlook zh-TW (desktop, plain-text reply)", render_outlook, "top", z5,
      form="orig", mailer="Microsoft Outlook 14.0", new="""
黃小姐您好：

麻煩協助設定 CDN，圖片我們這週自己轉檔。

謝謝
林志明
""", note="Big5; `-----原始郵件-----` + 寄件者/寄件日期/收件者/主旨")
built("built/outlook-tw-bottom.eml", "Outlook zh-TW (plain text, prefixed quote)", render_outlook, "bottom", z5,
      form="prefixed", new="""
好的，請先幫我們啟用 CDN，圖片之後再處理。

林志明
""")
built("built/outlook-tw-top-underscore.eml", "Outlook zh-TW (desktop)", render_outlook, "top", z5, form="underscore",
      charset="utf-8", new="""
黃小姐：需要，請協助設定 CDN。

林志明
""")
built("built/outlook-en-top.eml", "Outlook (desktop, English)", render_outlook, "top", e1, form="underscore", new="""
Hi Alice,

Please go ahead with the rollback. No other plugins were updated.

Tom Baker
Baker's Corner | +44 20 7946 0000
""")

# OWA / new Outlook, Outlook mobile, Windows Mail
built("built/owa-top-zh.eml", "Outlook on the web (zh-CN)", render_owa, "top", z3,
      cust=("陈伟", "chen.wei@agency.example"), new="""
周工，

确认续期，DNS 没有改过。

陈伟
""", note="`appendonsend` + `divRplyFwdMsg`, as real/erofs/4186f812a48e.eml")
built("built/owa-top-en.eml", "Outlook on the web (English)", render_owa, "top", e3, seconds=True, new="""
Hi Alice,

Done, both records are in place.

Kenji
""")
built("built/owa-top-tw.eml", "Outlook on the web (zh-TW)", render_owa, "top", z5, new="""
黃小姐您好，麻煩協助設定 CDN。

林志明
""")
built("built/owa-html-only-zh.eml", "Outlook on the web (zh-CN), HTML only", render_owa, "top", z4,
      cust=("刘洋", "liu.yang@factory.example"), html_only=True, new="""
李工，确认恢复到 28 日 03:00。

刘洋
""", faithful="approximation", note="HTML only: the quote is found by divRplyFwdMsg, not in plain text")
built("built/outlook-ios-top-zh.eml", "Outlook for iOS (zh-CN)", render_owa, "top", z1, mobile="ios", seconds=True, new="""
好的，今晚 22:00 可以重启。
""", note="the `获取 Outlook for iOS` footer sits between the text and the rule; it is the sender's (kept)")
built("built/outlook-android-top-en.eml", "Outlook for Android", render_owa, "top", e1, mobile="android", new="""
Rollback is fine, thanks!
""")
built("built/windowsmail-top-zh.eml", "Windows Mail (zh-CN)", render_windows_mail, "top", z2,
      cust=("王芳", "wangfang_sh@outlook.com"), new="""
赵工您好：

已经可以正常发信了，谢谢！

王芳
""", note="`发件人: X<mailto:a>` block after the app's footer, gb2312, as real/erofs/103d42d646c8.eml")
built("built/windowsmail-top-en.eml", "Windows Mail (English)", render_windows_mail, "top", e2,
      cust=("Maria Lopez", "maria.lopez@outlook.com"), new="""
Hi Bob,

Option 1, please.

Maria
""")

# Apple Mail / iPhone
built("built/applemail-bottom-zh.eml", "Apple Mail zh (macOS)", render_apple, "bottom", z3,
      cust=("陈伟", "chenwei@agency.example"), new="""
确认续期，DNS 没有改动过。谢谢！

陈伟
创意广告有限公司
""", note="the attribution itself is quoted: `> 2025年4月29日 11:32，X <a> 写道：`")
built("built/applemail-top-zh.eml", "Apple Mail zh (macOS)", render_apple, "top", z1,
      cust=("张三", "zhangsan@shili-keji.example"), new="""
李工：

插件已经停用，今晚可以重启。

张三
""")
built("built/applemail-top-plain-zh.eml", "Apple Mail zh (macOS, plain text)", render_apple, "top", z4,
      cust=("刘洋", "liuyang@factory.example"), plain_mode=True, new="""
确认恢复到 28 日 03:00。停机 20 分钟可以接受。

刘洋
""", note="plain-text mode: the attribution `2025年4月29日 11:32，X <a> 写道：` is not quoted")
built("built/applemail-inline-en.eml", "Apple Mail (macOS, English)", render_apple, "inline", e2,
      answers=[("1. We raise", "Let's do option 1."), ("Also, do you still", "No, the alias can go.")],
      tail="Thanks,\nMaria")
built("built/iphone-top-zh.eml", "iPhone Mail (zh)", render_iphone, "top", z4,
      cust=("刘洋", "liuyang@factory.example"), new="""
确认恢复，停机安排在中午。
""", faithful="approximation", note="iOS zh attribution wording `在 2025年4月29日，上午11:32，X <a> 写道：` from memory; `发自我的iPhone` is the sender's (kept)")
built("built/iphone-top-en.eml", "iPhone Mail (English)", render_iphone, "top", e1, new="""
Rollback is fine, go ahead.
""")

# Gmail
built("built/gmail-top-zh-wrapped.eml", "Gmail zh", render_gmail, "top", T["z1g"],
      cust=("张三", "zhangsan.shili@gmail.com"), new="""
李工您好，

插件已经停用，出问题的是 /checkout 页面，今晚 22:00 可以重启。

-- 
张三 | 示例科技 运维部
""", note="the long sender name makes Gmail wrap `… 于2025年4月29日周二` / `11:32写道：` over two lines; the `-- ` signature above the quote is the sender's (kept)")
built("built/gmail-bottom-zh-wrapped.eml", "Gmail zh", render_gmail, "bottom", T["z2g"],
      cust=("王芳", "wangfang.shop@gmail.com"), new="""
赵工，按步骤改了之后已经正常，谢谢！

王芳
""")
built("built/gmail-top-en-wrapped.eml", "Gmail (English)", render_gmail, "top", T["e2g"],
      cust=("Maria Lopez", "maria.lopez.studio@gmail.com"), new="""
Hi Bob,

Option 1 is fine, thanks.

Maria
""", note="`On Tue, Apr 29, 2025 at 11:32 AM X <a>` / `wrote:` wrapped")
built("built/gmail-inline-en.eml", "Gmail (English)", render_gmail, "inline", e1,
      cust=("Tom Baker", "tom.baker.bakery@gmail.com"), head="Hi Alice,",
      answers=[("1. Did you update", "No, only WooCommerce."), ("2. May we roll", "Yes, please do it now.")],
      tail="Thanks,\nTom")
built("built/gmail-inline-zh.eml", "Gmail zh", render_gmail, "inline", z4,
      cust=("刘洋", "liuyang.factory@gmail.com"), answers=[("1. 是否恢复到", "是的。"),
                                                         ("2. 恢复期间", "可以，中午 12 点以后。")], tail="刘洋",
      keep_trailing=False, note="the sender deleted the quote below the last answer")
built("built/gmail-mobile-top-zh.eml", "Gmail app zh", render_gmail, "top", z3,
      cust=("陈伟", "chenwei.agency@gmail.com"), mobile=True, new="""
确认续期。

陈伟
""", note="`在 2025年4月29日星期二，X <a> 写道：` as real/erofs/cd70dde464e9.eml")

# Thunderbird, Evolution, Mutt
built("built/thunderbird-bottom-en.eml", "Thunderbird", render_thunderbird, "bottom", e1,
      cust=("Tom Baker", "tom@bakery.example"), new="""
Thanks Alice. Nothing else was updated, please roll back.

Tom
""")
built("built/thunderbird-bottom-zh.eml", "Thunderbird zh", render_thunderbird, "bottom", z3, new="""
确认续期，DNS 没有变动过。

陈伟
""")
built("built/thunderbird-inline-zh.eml", "Thunderbird zh", render_thunderbird, "inline", z1,
      answers=[("1. 最近是否", "是的，装了一个商城插件，已经停用。"), ("3. 今晚 22:00", "可以。")],
      tail="张三", note="the second question is left unanswered between the answers")
built("built/thunderbird-inline-en.eml", "Thunderbird", render_thunderbird, "inline", e2, head="Hi Bob,",
      answers=[("1. We raise", "Option 1, please."), ("Also, do you still", "No, delete it.")],
      tail="Maria", keep_trailing=False, trim_lead=True)
built("built/thunderbird-top-html-zh.eml", "Thunderbird zh (HTML editor, reply on top)", render_thunderbird, "top", z4,
      html=True, new="""
李工：确认恢复到 28 日 03:00，中午停机可以。

刘洋
""")
built("built/evolution-bottom-en.eml", "Evolution", render_evolution, "bottom", e3, new="""
Done, both records are live since 10:40.
""", sig="Kenji Sato\nTravel New KK", note="`-- ` signature below the answer is the sender's (kept)")
built("built/evolution-inline-zh.eml", "Evolution zh_CN", render_evolution, "inline", z2,
      answers=[("2. 确认 SMTP", "端口是 465，SSL 也勾选了。"), ("3. 如果仍然失败", "还是失败，截图见下一封邮件。")],
      tail="王芳", trim_lead=True, faithful="approximation", note="zh_CN attribution wording approximated")
built("built/mutt-bottom-star-en.eml", "Mutt", render_mutt, "bottom", e3, star=True, new="""
Both records are in place since 10:40.
""", sig="Kenji Sato")
built("built/mutt-inline-en.eml", "Mutt", render_mutt, "inline", e1, head="Hi Alice,",
      answers=[("1. Did you update", "No."), ("2. May we roll", "Yes, please.")],
      tail="Tom", sig="Tom Baker <tom@bakery.example>", trim_lead=True)
built("built/mutt-inline-zh.eml", "Mutt", render_mutt, "inline", z1, star=True,
      answers=[("2. 出现 502", "/checkout 和 /cart。"), ("3. 今晚 22:00", "方便。")], tail="张三")


# ---- agents answering supportd's notifications -------------------------------------------------
#
# The notification bodies are what src/agent.rs `notification()` writes (new ticket, en and zh).
# The signed Reply-To and Message-ID need the daemon's secret: these fixtures carry placeholders
# (REPLY_TO_7 etc. below) that an end-to-end test replaces with the values its daemon signed.

NOTIFY_EN = """
New ticket [SUP-7]

Customer:  C1007 (wang.wu@customer.example)
From:      Wang Wu <wang.wu@customer.example>
Priority:  P2
Status:    new
Assignee:  alice
Subject:   Admin login returns 502
First response due: 2025-04-29 15:32 (Asia/Shanghai)
Resolution due: 2025-04-30 11:32 (Asia/Shanghai)

----------------------------------------
Hello,

Since last night our admin panel at https://www.wangwu-shop.example/admin
returns 502 Bad Gateway right after login. The shop front still works.

Customer ID: C1007
----------------------------------------

Reply to this mail to answer the customer. Commands at the top, one per line: #status open|pending|resolved|closed, #priority P1..P4, #assign <agent>, #note (the rest stays internal), #escalate, #merge <ticket>, #customer <id>.
"""

NOTIFY_ZH = """
新工单 [SUP-8]

客户：C1008 (zhao.liu@customer.example)
发件人：赵六 <zhao.liu@customer.example>
优先级：P2
状态：已受理
处理人：lina
主题：后台登录后显示 502
首次响应到期：2025-04-29 15:32 (Asia/Shanghai)
解决到期：2025-04-30 11:32 (Asia/Shanghai)

----------------------------------------
你好，

从昨晚开始，我们网站后台 https://www.zhaoliu-shop.example/admin
登录后就显示 502 Bad Gateway，前台页面正常。

客户ID：C1008
----------------------------------------

直接回复本邮件即可答复客户。命令写在正文最前面，每行一条：#status open|pending|resolved|closed（状态），#priority P1..P4（优先级），#assign <客服>（转派），#note（其后内容仅内部可见），#escalate（升级），#merge <工单号>（合并），#customer <客户ID>。
"""

REPLY_TO = {7: "support+7.3f9a0c1d2e4b5a69@example.com", 8: "support+8.9b1e7c3a5d2f4e60@example.com"}
NOTIFY_ID = {7: "supa.7.5d1c9e2a7b3f.8c4e0a6f2d9b1e7c3a5f0d2b@example.com",
             8: "supa.8.a2f6c1e9d4b7.1e5b9d3f7a0c4e8b2d6f1a9c@example.com"}

# What a relay must never carry: the notification's own lines.
NOTIFY_INTERNAL = {
    7: ["Assignee:", "Priority:  P2", "First response due", "Resolution due", "Customer:  C1007",
        "Reply to this mail to answer the customer", "#note (the rest stays internal)"],
    8: ["处理人：", "优先级：P2", "首次响应到期", "解决到期", "客户：C1008",
        "直接回复本邮件即可答复客户", "#note（其后内容仅内部可见）"],
}


def notify_thread(key, ticket, lang, agent, text, subject):
    t = Thread(key, lang, ticket, subject, agent, ("Example Support", "support@example.com"), text,
               NOTIFY_INTERNAL[ticket][:4])
    t.prev_subject = f"[SUP-{ticket}] [P2] {subject}"
    t.prev_msgid = NOTIFY_ID[ticket]
    t.date = datetime(2025, 4, 29, 11, 32, 40, tzinfo=CN)
    T[key] = t
    return t


ALICE = ("Alice Chen", "alice@example.com")
LINA = ("李娜", "lina@example.com")
n7 = notify_thread("n7", 7, "en", ALICE, NOTIFY_EN, "Admin login returns 502")
n8 = notify_thread("n8", 8, "zh", LINA, NOTIFY_ZH, "后台登录后显示 502")

AGENT = []


def agent(file, client, render, style, t, outcome, commands=(), relay_first=None, relay_must_not=None,
          also_ok=(), attachments=(), **kw):
    m = Mail(file, client, render, style, t, offset=timedelta(minutes=47, seconds=5), **kw)
    m.outcome = outcome
    m.commands = list(commands)
    m.relay_first = relay_first
    m.relay_must_not = list(relay_must_not if relay_must_not is not None else NOTIFY_INTERNAL[t.ticket])
    m.also_ok = list(also_ok)
    m.attachments = list(attachments)
    AGENT.append(m)
    return m


agent("agent/foxmail-top-zh.eml", "Foxmail", render_foxmail, "top", n8, "relay", sig="李娜 | Example 技术支持",
      relay_first="赵先生，您好：", new="""
赵先生，您好：

后台 502 是因为 PHP 内存上限只有 128M，我们已经调到 512M，请您再登录试一下。

李娜
""", note="the quoted notification lists the commands (#status …, #note …): none of them may be read from the quote, and its 发件人：/主题： lines look like a header block")
agent("agent/thunderbird-top-commands-en.eml", "Thunderbird", render_thunderbird, "top", n7, "relay",
      commands=["#status pending", "#priority P3"], relay_first="Hi Wang,", new="""
#status pending
#priority P3

Hi Wang,

The 502 came from the PHP worker limit on web-05; we raised it. Could you try logging in again?

Alice
""")
agent("agent/thunderbird-bottom-status-en.eml", "Thunderbird", render_thunderbird, "bottom", n7, "relay",
      commands=["#status resolved"], relay_first="Hi Wang,", new="""
#status resolved

Hi Wang,

We raised the PHP memory limit on web-05 to 512 MB; the admin panel loads again.

Alice
""", note="attribution and the whole quoted notification first, the commands and the answer below it")
agent("agent/coremail-bottom-status-zh.eml", "Coremail enterprise webmail", render_coremail, "bottom", n8, "relay",
      commands=["#status resolved"], relay_first="赵先生您好", new="""
#status resolved
赵先生您好，后台已经恢复，原因是 PHP 内存上限太低，已经调整。

李娜
""")
agent("agent/outlook16-bottom-note-zh.eml", "Outlook 16 zh-CN (plain text, prefixed quote)", render_outlook, "bottom", n8,
      "internal", commands=["#note"], form="prefixed", new="""
已经在处理，今晚维护窗口重启 PHP。

#note 内部：root 密码 Tq7!mZ2w 已发给机房值班，用完请改掉
""", note="`#note` below the answer, which is below the quote: the whole mail is internal, nothing reaches the customer",
      relay_must_not=["root 密码", "Tq7!mZ2w", "已经在处理"])
agent("agent/gmail-bottom-note-en.eml", "Gmail", render_gmail, "bottom", n7, "internal", commands=["#note"], new="""
#note internal: root password for web-05 is Vb4#kR9q, rotate it after use.
The customer reuses an old plugin; I will call them tomorrow.
""", relay_must_not=["root password", "Vb4#kR9q", "I will call them tomorrow"])
agent("agent/thunderbird-inline-en.eml", "Thunderbird", render_thunderbird, "inline", n7, "relay",
      commands=["#status pending"], relay_first="That is the PHP worker limit", head="#status pending",
      answers=[("returns 502 Bad Gateway", "That is the PHP worker limit on web-05; we raised it just now.")],
      tail="Could you try again and tell us whether it works?\n\nAlice",
      note="inline answer under the customer's own lines inside the quoted notification; those lines may stay as context, no notification field may")
agent("agent/applemail-inline-zh.eml", "Apple Mail zh (macOS)", render_apple, "inline", n8, "relay",
      relay_first="原因是 PHP 内存上限", answers=[("登录后就显示 502", "原因是 PHP 内存上限太低，已经调到 512M。")],
      tail="请您再试一下，有问题随时回复。\n\n李娜")
agent("agent/outlook-top-sig-en.eml", "Outlook on the web (English)", render_owa, "top", n7, "relay",
      relay_first="Hi Wang,", new="""
Hi Wang,

The admin panel works again; the PHP worker limit was too low.

-- 
Alice Chen
Example Support | +86 21 5555 0100
""", relay_must_not=NOTIFY_INTERNAL[7] + ["+86 21 5555 0100"],
      note="the `-- ` signature is in the reply text; the relay drops it (README: an agent's signature after `-- ` is removed)")


# -- agent fixtures that need their own layout ----------------------------------------------------

TINY_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>"
            b"endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def split_message(text):
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    keep, moved = [], []
    cur = None
    for l in lines:
        if l[:1] in (" ", "\t"):
            (moved if cur == "moved" else keep).append(l)
            continue
        name = l.split(":", 1)[0].lower()
        cur = "moved" if name in ("content-type", "content-transfer-encoding") else "keep"
        (moved if cur == "moved" else keep).append(l)
    return keep, moved, body


def with_attachment(inner, files, boundary, exchange=False):
    """Wrap a rendered mail's body into multipart/mixed with `files` [(headers, data)]."""

    def render(m):
        text, cs = inner(m)
        keep, moved, body = split_message(text)
        if exchange:
            keep = [("X-MS-Has-Attach: yes" if l == "X-MS-Has-Attach:" else l) for l in keep]
        out = ["\r\n".join(keep), f'\r\nContent-Type: multipart/mixed;\r\n\tboundary="{boundary}"\r\n\r\n']
        out.append(f"--{boundary}\r\n" + "\r\n".join(moved) + "\r\n\r\n" + body)
        if not body.endswith("\r\n"):
            out.append("\r\n")
        for headers, data in files:
            out.append(f"\r\n--{boundary}\r\n" + "\r\n".join(headers) + "\r\n\r\n" + b64_lines(data))
        out.append(f"\r\n--{boundary}--\r\n")
        return "".join(out), cs

    return render


PDF_NAME = "修复说明.pdf"
agent("agent/owa-attachment-only-zh.eml", "Outlook on the web (zh-CN)", with_attachment(render_owa, [(
    [f'Content-Type: application/pdf; name="{ew(PDF_NAME, "utf-8")}"',
     f'Content-Description: {ew(PDF_NAME, "utf-8")}',
     f'Content-Disposition: attachment; filename="{ew(PDF_NAME, "utf-8")}"; size={len(TINY_PDF)};',
     '\tcreation-date="Tue, 29 Apr 2025 04:19:45 GMT";', '\tmodification-date="Tue, 29 Apr 2025 04:19:45 GMT"',
     "Content-Transfer-Encoding: base64"], TINY_PDF)], "_004_TYZPR06MB6123ATTACH_", exchange=True),
      "top", n8, "attachment-only", attachments=[PDF_NAME], new="\n",
      note="no new text at all, only the quote and a PDF: the relay is the attachment with a one-line neutral text, never the quote")
agent("agent/iphone-attachment-only-en.eml", "iPhone Mail (English)", with_attachment(render_iphone, [(
    ["Content-Type: image/png;", "\tname=screenshot.png", "Content-Disposition: inline;", "\tfilename=screenshot.png",
     "Content-Transfer-Encoding: base64"], TINY_PNG)], f"Apple-Mail-{uuid_like('iphone-att', upper=True)}"),
      "top", n7, "attachment-only", attachments=["screenshot.png"], new="\n",
      note="the only text is the phone's `Sent from my iPhone` footer: treat as attachment-only")


def render_ooo(kind):
    def render(m):
        t = m.t
        ticket_subject = t.prev_subject
        body_text = m.new
        if kind == "exchange":
            hs = [
                f"From: {addr(m.cust[0], m.cust[1])}",
                f"To: {addr(t.sup[0], t.sup[1])}",
                f"Subject: Automatic reply: {ticket_subject}",
                f"Thread-Topic: {ticket_subject}",
                f"Thread-Index: AQ{base64.b64encode(hashlib.sha256(seed(m).encode()).digest()).decode()[:26]}",
                f"Date: {rfc_date(m.date.astimezone(UTC))}",
                f"Message-ID: <{exchange_id(m)}@TYZPR06MB6123.apcprd06.prod.outlook.com>",
                f"References: <{t.prev_msgid}>",
                f"In-Reply-To: <{t.prev_msgid}>",
                "Auto-Submitted: auto-replied",
                "X-MS-Has-Attach:",
                "X-Auto-Response-Suppress: All",
                "X-MS-Exchange-Inbox-Rules-Loop: alice@example.com",
                "X-MS-TNEF-Correlator:",
                "Content-Language: en-US",
            ]
            b = f"_000_{exchange_id(m)}_"
            htm = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body>'
                   + "".join(f"<div>{esc(l)}</div>" if l.strip() else "<div><br></div>" for l in body_text.split("\n"))
                   + "</body></html>")
            body = Multi("alternative", b, [
                text_part(body_text + "\n", "plain", "utf-8", "base64", 'Content-Type: text/{sub}; charset="{cs}"'),
                text_part(htm, "html", "utf-8", "base64", 'Content-Type: text/{sub}; charset="{cs}"'),
            ])
            return message(hs + body.content_type_lines() + ["MIME-Version: 1.0"], body), None
        if kind == "qq":
            hs = qq_headers(m, "", "gb18030", 'Content-Type: text/plain;\n\tcharset="gb18030"', exmail=True)
            hs = [h for h in hs if not h.startswith(("In-Reply-To", "References", "Subject"))]
            hs.insert(8, f"Subject: {ew('自动回复: ' + ticket_subject, 'gb18030')}")
            hs.append("Auto-Submitted: auto-replied")
            return message(hs, text_part(body_text + "\n", "plain", "gb18030", "base64", 'Content-Type: text/{sub};\n\tcharset="{cs}"')), None
        if kind == "163":
            hs = [
                f"Date: {rfc_date(m.date, 'CST')}",
                f"From: {addr(m.cust[0], m.cust[1], 'UTF-8', True)}",
                f"To: {addr(t.sup[0], t.sup[1], 'UTF-8', True)}",
                f"Subject: {ew('自动回复：' + ticket_subject, 'UTF-8')}",
                "X-Autoreply: yes",
                "X-Priority: 3",
                f"Message-ID: <{hexid(seed(m), 8)}.{hexid(seed(m, 'a'), 4)}.{hexid(seed(m, 'b'), 11)}.Coremail.{m.cust[1]}>",
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=UTF-8",
                "Content-Transfer-Encoding: base64",
            ]
            return message(hs, Part([], body_bytes(body_text + "\n", "UTF-8", "base64"))), None
        if kind == "outlook-rule":
            hs = outlook_desktop_headers(m, "gb2312", ['Content-Type: text/plain;', '\tcharset="gb2312"',
                                                       "Content-Transfer-Encoding: base64"])
            hs = [(f"Subject: {ew('自动答复: ' + ticket_subject, 'gb2312')}" if h.startswith("Subject:") else h) for h in hs]
            return message(hs, Part([], body_bytes(body_text + "\n", "gb2312", "base64"))), None
        raise ValueError(kind)

    return render


agent("agent/exchange-ooo-en.eml", "Exchange / Outlook (out of office)", render_ooo("exchange"), "none", n7, "machine",
      new="""
I am out of the office until Tuesday 6 May with limited access to email.
For urgent matters call me on +86 139 1234 5678.
""", relay_must_not=["+86 139 1234 5678", "out of the office"],
      note="Auto-Submitted: auto-replied, subject `Automatic reply:`: internal, never relayed, no status change, not a response")
agent("agent/exmail-ooo-zh.eml", "Tencent Exmail (auto-reply)", render_ooo("qq"), "none", n8, "machine", new="""
您好，我正在休假，5月6日返回。紧急事务请致电 139 1234 5678。
""", relay_must_not=["139 1234 5678", "正在休假"], faithful="approximation",
      note="subject `自动回复: …` and Auto-Submitted: auto-replied; Exmail's exact auto-reply headers are a guess")
agent("agent/163-autoreply-zh.eml", "163 webmail (auto-reply)", render_ooo("163"), "none", n8, "machine",
      cust=("李娜", "lina_support@163.com"), new="""
这是一封自动回复邮件。我 5 月 1 日至 5 日休假，急事请打 138 1111 2222。
""", relay_must_not=["138 1111 2222", "这是一封自动回复邮件"], faithful="approximation",
      note="no Auto-Submitted, only `X-Autoreply: yes` and the `自动回复：` subject (X-Autoreply family)")
agent("agent/outlook-rule-ooo-zh.eml", "Outlook zh-CN (rule auto-reply)", render_ooo("outlook-rule"), "none", n8, "machine",
      new="""
本人 5 月 1 日至 5 日休假，期间请联系 bob@example.com，急事请打我手机 139 8765 4321。
""", relay_must_not=["139 8765 4321", "本人 5 月 1 日至 5 日休假"],
      note="sent by a client-side rule: no Auto-Submitted or X-Autoreply, only the `自动答复:` subject marks it")


def render_outlook_red_inline(m):
    """Outlook desktop HTML, answers typed in red inside the quoted notification: the plain part
    shows no marker between the agent's lines and ours."""
    t = m.t
    block = outlook_block(m, "angle")
    answers = dict(m.opts["red"])
    body_plain, body_html = [], []
    for l in t.prev:
        body_plain.append(l)
        body_html.append(word_p(l))
        for needle, ans in answers.items():
            if needle in l:
                body_plain.append(ans)
                body_html.append(f"<p class=MsoNormal><span style='color:red'>{esc(ans)}</span><o:p></o:p></p>")
    plain = "\n".join([m.new, "", " ", *block, "", " ", *body_plain]) + "\n"
    htm = (word_head("gb2312") + "".join(word_p(l) for l in m.new.split("\n")) + word_p("")
           + word_block(block) + word_p("") + "".join(body_html) + "</div></body></html>")
    b = f"----=_NextPart_000_{hexid(seed(m), 4).upper()}_01DB{hexid(seed(m, 'b'), 4).upper()}.{hexid(seed(m, 'c'), 8).upper()}"
    body = Multi("alternative", b, [
        text_part(plain, "plain", "gb2312", "base64", 'Content-Type: text/{sub};\n\tcharset="{cs}"'),
        text_part(htm, "html", "gb2312", "base64", 'Content-Type: text/{sub};\n\tcharset="{cs}"'),
    ], preamble="This is a multipart message in MIME format.")
    return message(outlook_desktop_headers(m, "gb2312", body.content_type_lines()), body), None


def render_pasted(m):
    """A plain-text mail (Foxmail plain mode) whose author pasted the notification below the
    answer: no attribution, no `>`, no separator."""
    t = m.t
    plain = "\n".join([m.new, "", *t.prev]) + "\n"
    part = text_part(plain, "plain", "gb2312", "base64", "Content-Type: text/{sub};\n\tcharset=\"{cs}\"")
    return message(foxmail_headers(m, "gb2312", "", "回复: ")[:-1], part), None


agent("agent/outlook-red-inline-refuse-zh.eml", "Outlook zh-CN (desktop)", render_outlook_red_inline, "inline", n8, "refuse",
      new="赵先生：请看下面红字。", red=[("登录后就显示 502", "这个是 PHP 内存不够，我已经调到 512M 了。"),
                                  ("客户ID：C1008", "客户 ID 没错，已经核对。")],
      relay_must_not=NOTIFY_INTERNAL[8] + ["请看下面红字", "PHP 内存不够"],
      note="the answers sit in red inside the unmarked quote: the quoted copy no longer matches what was sent, so nothing may be relayed; the agent is told why")
agent("agent/pasted-notification-refuse-zh.eml", "Foxmail (plain-text mode)", render_pasted, "top", n8, "refuse",
      also_ok=["relay"], relay_first="好的，我来处理", new="""
好的，我来处理，今晚给客户回电话。
""", note="the notification pasted below the answer with no marker at all; refusing is right, relaying only the line above an exact copy of the sent notification is acceptable too")


# ---- the real mails (copied byte-exact into real/, see SOURCES.md) ------------------------------
#
# (file, client, style, lang, first, last, contains, context, must_not, note)

QQ_HIST = "发送时间:"
REAL = [
    ("real/erofs/879cec9b0edc.eml", "QQ Mail", "top", "zh", "Dear xiang,", "非常感谢", [], [],
     ["原始邮件", QQ_HIST, "drop_caches", "Gao Xiang wrote:"], ""),
    ("real/erofs/10cf7965936c.eml", "Thunderbird (replying to QQ Mail)", "inline", "zh", "至少对于不压缩的情况", "谢谢。", [],
     ["好的,我尝试一下您提供的测试方法。"], ["原始邮件", "发送时间", "drop_caches", "非常感谢", "ZHOU wrote:"],
     "the answer sits between the first quoted lines and the rest of the quote"),
    ("real/erofs/7c2b4862dfc7.eml", "QQ Mail", "top", "zh", "是的 看代码流程erofs更简洁", "B.R", [], [],
     ["原始邮件", QQ_HIST, "至少对于不压缩的情况", "ZHOU wrote:"], ""),
    ("real/erofs/ed2eeaa57eb6.eml", "Thunderbird (replying to QQ Mail)", "inline", "zh", "没有，我觉得你们先排查下",
     "CONFIG_EROFS_FS_ZIP_CACHE_BIPOLAR", [], ["是的 看代码流程erofs更简洁"],
     ["原始邮件", "发送时间", "至少对于不压缩的情况", "ZHOU wrote:"], ""),
    ("real/erofs/102cf64aba2b.eml", "QQ Mail", "top", "zh", "好的，该config CONFIG_EROFS_FS_ZIP_CACHE_BIPOLAR", "B.R",
     ["谢谢给出的建议"], [], ["原始邮件", QQ_HIST, "没有，我觉得你们先排查下"], ""),
    ("real/erofs/e954a3da161e.eml", "Thunderbird (replying to QQ Mail)", "inline", "zh", "loop方式意义不大", "通过新增分区做测试。",
     [], ["我再仔细检查一下LBA。"], ["原始邮件", "谢谢给出的建议", "ZHOU wrote:"], ""),
    ("real/erofs/35fde961769d.eml", "QQ Mail", "top", "zh", "iozone 改动很小", "B.R", ["感谢支持"], [],
     ["原始邮件", QQ_HIST, "loop方式意义不大"], ""),
    ("real/erofs/c6a136fb1d06.eml", "Thunderbird (replying to QQ Mail)", "inline", "zh", "总之你先拿fio用新增独立分区",
     "你的文件有什么特殊的吗？", [], ["然后启用-+E选项使用独立的文件做只读测试"], ["原始邮件", "感谢支持", "ZHOU wrote:"], ""),
    ("real/erofs/d09efe2a4b78.eml", "QQ Mail", "top", "zh", "嗯", "发自我的iPhone", ["谢谢"], [],
     ["原始邮件", QQ_HIST, "总之你先拿fio"], "the `发自我的iPhone` footer is the sender's and stays"),
    ("real/erofs/d21d434804d2.eml", "QQ Mail", "top", "zh", "Dear Gao xiang,", "ThanksB.R", [], [],
     ["原始邮件", QQ_HIST, "总之你先拿fio"], ""),
    ("real/erofs/02abc9760b6f.eml", "Thunderbird (replying to QQ Mail)", "inline", "zh", "这个确实很奇怪", "",
     ["研究一下共享下结果。"], ["默认调频策略下erofs速率慢于ext4"], ["原始邮件", "感谢支持", "ZHOU wrote:"],
     "the sender split a quoted line and left its second half (`但不多。另外…`) unquoted below the answer: "
     "it cannot be told from new text, so the end is not checked"),
    ("real/erofs/0a2480cb10e1.eml", "QQ Mail", "top", "zh", "好的", "B.R", [], [],
     ["原始邮件", QQ_HIST, "这个确实很奇怪"], ""),
    ("real/erofs/202e1a513bf9.eml", "QQ Mail", "bottom", "en", "Sorry, I did not carefully notice", "Xiaoke Wang", [], [],
     ["&gt;", "hsiangkao@linux.alibaba.com wrote:", "It's really a nofail allocation"],
     "plain part only, quoting with literal `&gt;` entities"),
    ("real/erofs/f24a2186691b.eml", "Outlook zh-CN (plain text, prefixed quote)", "inline", "en",
     "Yes, this is with 4k pcluster.", "Thanks,", [], ["That is with 4k pcluster, yes?"],
     ["-----邮件原件-----", "发送时间:", "LearnAboutSenderIdentification", "low-ended devices"], ""),
    ("real/erofs/4186f812a48e.eml", "Outlook on the web (zh-CN UI)", "top", "en", "Hi Gao Xiang,Sandeep Dhavale",
     "that cause this issue.", ["Thanks for your suggestions !"], [],
     ["发件人:", "发送时间:", "外部邮件", "Please fix your own environment", "小米公司的保密信息"],
     "the company disclaimer added below the quoted history is not the sender's text"),
    ("real/erofs/bb7e5dfa0b72.eml", "Outlook (Exchange, zh-CN UI)", "top", "en", "Thank you for your suggestions.",
     "I appreciate your help.", [], [],
     ["发件人:", "Could you use a newer distribution", "小米公司的保密信息", "外部邮件"], ""),
    ("real/erofs/3a6bb8629712.eml", "Outlook (Exchange, zh-CN UI)", "top", "en", "Gao Xiang <hsiangkao@linux.alibaba.com>;",
     "Sun Shijie", ["Tested-by: Shijie Sun"], [], ["发件人: 孙士杰", "2.24.4", "小米公司的保密信息"],
     "the sender pasted the patch (and OWA's recipient list) above the rule without markers; that paste is their text"),
    ("real/erofs/e21346d733b4.eml", "Outlook (Exchange, zh-CN UI)", "inline", "en", "Sure, I can do that.", "", [],
     ["If it looks good to you, could you please send another version?"],
     ["Missing your Signed-off-by here.", "z_erofs_parse_cfgs"],
     "`>` quoting without attribution; the company disclaimer after the trailing quote is not checked either way"),
    ("real/erofs/103d42d646c8.eml", "Windows Mail (zh-CN)", "top", "en", "Hi all,",
     "I’m not sure who actually received my email.", [], [],
     ["发件人: 胡 玮文", "发送时间:", "mkfs.erofs is very slow"], ""),
    ("real/erofs/412eb0fa4bd9.eml", "Huawei WeLink", "top", "en", "Ok, look good to me", "",
     ["Reviewed-by: Hongbo Li", "Thanks."], [],
     ["发件人：Gao Xiang", "时\u2003间：", "doesn't work well if page cache sharing is on"],
     "full-width colons, `抄 送：`/`主 题：`/`时 间：` padded with U+2003 EM SPACE, `时 间：` last and its date split by U+3000; the signature between the "
     "rule and the block (`Li Hongbo` / `Mail:`) may stay or go"),
    ("real/erofs/7d8098132d1e.eml", "Foxmail", "inline", "en", "Hi, Gao Xiang，", "", [], [],
     ["发送时间：", "发件人："],
     "the answers were typed inside Foxmail's unmarked quote (plain and HTML alike): only the greeting can be "
     "recovered; the test checks the header block and what follows are gone"),
    ("real/erofs/533eca62621b.eml", "Foxmail (plain-text mode)", "inline", "en", "Hi, Gao Xiang,", "",
     ["I think you mean map.m_llen intesad of map_m_llen.", "Thanks,\nJianan"],
     ["ASSERT(end == map.m_la + map_m_llen);"], ["(off_t)map.m_la < offset", "2.24.0"],
     "`>` with no space and no attribution; the company disclaimer at the end is not checked"),
    ("real/erofs/140c49bab3fe.eml", "Foxmail", "top", "en", "Hi, Gao Xiang,", "Huang Jianan", [], [],
     ["Thanks for your question.", "z_erofs_map_blocks_iter"], "`>` quote with no attribution below a `----` signature rule"),
    ("real/erofs/3203d40bfa85.eml", "AOL webmail (Mutt-style)", "inline", "en", "Hi Jianan,", "Gao Xiang", [],
     ["Sorry for the format of the previous email."], ["Huang Jianan wrote:"], ""),
    ("real/erofs/d3af54de8181.eml", "AOL webmail (Mutt-style)", "inline", "en", "Hi Jianan,", "Gao Xiang", [],
     ["I think this condition will be true if offset+size"],
     ["huangjianan@oppo.com wrote:", "2.24.0", "锟斤拷锟斤拷时锟戒"], "the quoted Foxmail header block is mojibake (GBK read as UTF-8, re-encoded)"),
    ("real/erofs/6cd4320a9c5c.eml", "163 webmail (English UI)", "bottom", "en", "Thanks for your review and advise.",
     "Gou Hao", [], [], ["wrote:", "Thanks for the patch!", "_f2fs_printk()"], "bottom-posted; `--` (no space) signature kept"),
    ("real/erofs/7e4be010a1c8.eml", "126 webmail", "top", "zh", "Hi", "thinks for your help.",
     ["I have sent a new email from meizu email which signed the patch."], [],
     ["&nbsp;", "写道：", "When the user mounts the erofs second times", "Reviewed-by: Gao Xiang"],
     "plain text only with a literal `&nbsp;` for every space of the sender's text; the original follows unquoted"),
    ("real/erofs/a4f4cc17770f.eml", "126 webmail (English UI)", "top", "en", "Hi hsiangkao:", "It's getting better.Thanks!",
     [], [], ["said:", "Thanks for your patch v2", "BLKGETSIZE64"], "`At … , \"X\" <a>, said:` attribution"),
    ("real/erofs/b031e5bc99b1.eml", "Gmail zh", "inline", "en", "Hi Xiang,", "Or is there something I'm misunderstanding?",
     ["should not set this???", "EROFS_IDATA_TYPE_COMPRESSED_DEFAULT); ???"],
     ["Could you confirm if the following diff fixes the issue?",
      "inode->idata_type = EROFS_IDATA_TYPE_COMPRESSED_END_OF_2B;", "lobits = 16 - 14 /* encodebits */ + lobits;"],
     ["于2026年5月18日周一 12:18写道", "Sorry for late response.", "iov[h0] = (struct iovec)"],
     "one answer is a quoted line the sender un-quoted and marked `???`"),
    ("real/erofs/a7e468f07f0b.eml", "Gmail zh", "inline", "en", "ok, I will chang it.",
     "it will not acquire lock and return immediately.", [],
     ["Yet could you turn the race above into the current function names?",
      "What if pending_bios is always 0 (nr_bios == 0), is it possible?"],
     ["于2022年4月1日周五 14:55写道", "The root cause is the race as follows"], ""),
    ("real/erofs/cd70dde464e9.eml", "Gmail app zh", "top", "en", "Reviewed-by: Jianan Huang", "Jianan", [], [],
     ["在 2026年5月22日星期五", "写道：", "can race with filesystem unmount"], ""),
    ("real/erofs/b79cb71fbcc3.eml", "Thunderbird zh", "top", "en", "GAO", "it's a good suggest, you're right", [], [],
     ["写道:", "Does the variable name of debug level"], ""),
    ("real/erofs/e2527d39a212.eml", "Thunderbird zh", "top", "en", "Dear Hongbo Li,", "Baolin Liu",
     ["I agree with your point."], [], ["写道:", "When updating fsid or domain_id"],
     "the sender's own text is itself `> `-quoted above the attribution; it is their new text (the test compares "
     "with quote markers stripped)"),
    ("real/erofs/f8f620fcf724.eml", "Apple Mail zh", "top", "en", "My bad.", "Chengyu", [], [],
     ["写道：", "I cannot apply this patch"], "quoted attribution `> 2026年2月12日 09:27，X <a> 写道：`"),
    ("real/target-devel/f3ba7f6bcdbc.eml", "Coremail enterprise webmail", "bottom", "en",
     "This bug is detected by a static analyzer tool.", "Thanks.", [], [],
     ["-----原始邮件-----", "发送时间:", "Could you describe the race a little more?"], "CRLF inside the base64 text"),
    ("real/target-devel/594cb44e4486.eml", "Coremail enterprise webmail", "bottom", "en", "Ok, thanks for your answer.",
     "Thanks.", [], [], ["-----原始邮件-----", "发送时间:", "Could you describe the race a little more?"], ""),
    ("real/target-devel/1573f85f2bdf.eml", "Coremail enterprise webmail", "bottom", "en",
     "I see that function isert_free_login_buf", "tell me your commit number?", [], [],
     ["-----原始邮件-----", "The fix needs to be change of isert_free_login_buf()"], ""),
    ("real/target-devel/c4d6bfd8450e.eml", "Mutt (replying to Coremail)", "bottom", "en",
     "After checking how isert_connect_release() is implemented", "rdma_reject(cma_id, NULL, 0, IB_CM_REJ_CONSUMER_DEFINED);",
     [], [], ["lyl2019@mail.ustc.edu.cn wrote:", "-----原始邮件-----", "I see that function isert_free_login_buf"], ""),
    ("real/target-devel/e5a3a3eb8da2.eml", "163 webmail (English UI)", "bottom", "en", "Hi Leon.", "TanZheng", [], [],
     ["kensanya@163.com> wrote:", "When srpt_alloc_rw_ctxs() fails partway"],
     "17 blank lines before the attribution; the quote holds a second 163 quote"),
    ("real/target-devel/e717a86473eb.eml", "163 webmail (English UI)", "bottom", "en", "Hi Bart,", "TanZheng", [], [],
     ["leon@kernel.org> wrote:", "This line seems questionable to me."], ""),
    ("real/zammad/mail005.box", "Thunderbird (German)", "bottom", "de", "Hallo Martin,", "John & Marc", [], [],
     ["schrieb Martin Edenhofer", "Mögliche Termine:", "Managing Director: Martin Edenhofer"],
     "a helpdesk customer bottom-posting under the agent's quoted mail and signature"),
    ("real/zammad/mail012.box", "Outlook (German)", "top", "de", "Hallo Herr Edenhofer,",
     "Internet: www.example.com<http://www.example.com/>", [], [],
     ["-----Ursprüngliche Nachricht-----", "Gesendet: Freitag, 30. November 2012"], ""),
    ("real/zammad/mail003.box", "Outlook (German)", "top", "de", "Hallo Fritz,", "", ["Mit freundlichen Grüßen"], [],
     ["Von: Fritz Bauer [mailto:me@example.com]", "Gesendet: Donnerstag, 3. Mai 2012"],
     "the signature's `_ __ ___ ____…` rules are decoration, not a quote boundary"),
    ("real/zammad/mail007.box", "Lotus Notes (German, HTML only)", "top", "de", "Hallo.", "Mfg eike", [], [],
     ["anbei wie gestern telefonisch besprochen", "Martin Edenhofer via Znuny Team"],
     "HTML only; the quote is a domino-section table with Von:/An/Datum:/Betreff"),
    ("real/rt/new-ticket-from-iso-8859-1-full", "Eudora", "bottom", "en", "Hello again,", "",
     ["Thanks for your fast replay!"], [], ["you wrote:", "I'd love it too."],
     "no Content-Type and 8-bit Latin-1: the signature's name is undecodable, so the end is not checked"),
]


# ---- output ---------------------------------------------------------------------------------------

SOURCES = {
    "real/erofs/": "/work/shared/corpus/mail-archives-zh/erofs/",
    "real/target-devel/": "/work/shared/corpus/mail-archives-zh/target-devel/",
    "real/zammad/": "/work/shared/corpus/zammad/",
    "real/rt/": "/work/shared/corpus/rt/",
}


FAMILIES = [  # (client name starts with, family)
    ("Tencent Exmail", "Tencent Exmail"), ("QQ Mail", "QQ Mail"), ("Foxmail", "Foxmail"),
    ("NetEase MailMaster", "NetEase MailMaster"), ("NetEase FlashMail", "NetEase FlashMail"),
    ("163", "163/126 webmail"), ("126", "163/126 webmail"), ("Coremail", "Coremail enterprise"),
    ("Alimail", "Alimail"), ("HMail", "HMail"), ("NSMAIL", "NSMAIL"), ("Huawei Email", "Huawei Email"),
    ("Huawei WeLink", "Huawei WeLink"), ("Outlook on the web", "Outlook on the web"),
    ("Outlook for", "Outlook mobile"), ("Exchange", "Outlook desktop"), ("Outlook", "Outlook desktop"),
    ("Windows Mail", "Windows Mail"), ("iPhone", "iPhone Mail"), ("Apple Mail", "Apple Mail"),
    ("Gmail", "Gmail"), ("Thunderbird", "Thunderbird"), ("Evolution", "Evolution"), ("Mutt", "Mutt"),
    ("AOL", "AOL webmail"), ("Eudora", "Eudora"), ("Lotus", "Lotus Notes"),
]


def family(client):
    for prefix, fam in FAMILIES:
        if client.startswith(prefix):
            return fam
    raise KeyError(client)


def toml_str(s):
    out = ['"']
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or ch in "\u00a0\u2002\u2003\u3000\ufeff":
            out.append("\\u%04X" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_val(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_val(x) for x in v) + "]"
    raise TypeError(v)


def row_toml(row):
    lines = ["[[mail]]"]
    for k, v in row.items():
        if v is None or (isinstance(v, list) and not v and k not in ("must_not",)):
            continue
        if isinstance(v, str) and not v and k in ("note", "outcome", "relay_first"):
            continue
        lines.append(f"{k} = {toml_val(v)}")
    return "\n".join(lines)


def built_row(m, kind):
    e = m.expected()
    row = {
        "file": m.file,
        "kind": kind,
        "client": m.client,
        "family": family(m.client),
        "style": m.style,
        "lang": m.lang,
        "fidelity": m.faithful,
        "first": e["first"],
        "last": e["last"],
        "contains": e["contains"],
        "context": e["context"],
        "must_not": e["must_not"],
    }
    if kind == "agent":
        row["outcome"] = m.outcome
        row["also_ok"] = m.also_ok
        row["commands"] = m.commands
        row["relay_first"] = m.relay_first or ""
        row["relay_must_not"] = m.relay_must_not
        row["attachments"] = m.attachments
    row["note"] = m.note
    return row


def main():
    import shutil

    rows = []
    for f, client, style, lang, first, last, contains, context, must_not, note in REAL:
        src = None
        for prefix, folder in SOURCES.items():
            if f.startswith(prefix):
                src = folder + f[len(prefix):]
        dst = os.path.join(HERE, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst) and src and os.path.exists(src):
            shutil.copyfile(src, dst)
        rows.append({"file": f, "kind": "real", "client": client, "family": family(client), "style": style, "lang": lang,
                     "fidelity": "real", "first": first, "last": last, "contains": contains,
                     "context": context, "must_not": must_not, "note": note})
    for kind, mails in (("built", BUILT), ("agent", AGENT)):
        for m in mails:
            text, cs = m.render(m)
            if kind == "agent":
                text = re.sub(r"(?m)^(To: .*)<support@example\.com>", lambda mo: mo.group(1) + f"<{REPLY_TO[m.t.ticket]}>", text, count=1)
            data = to_bytes(text, cs)
            path = os.path.join(HERE, m.file)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
            rows.append(built_row(m, kind))
    for ticket, text in ((7, NOTIFY_EN), (8, NOTIFY_ZH)):
        with open(os.path.join(HERE, f"agent/notification-SUP-{ticket}.txt"), "w", encoding="utf-8") as fh:
            fh.write(text.strip("\n") + "\n")
    header = (
        "# Expected reply text of every mail under tests/mail/replies/ (README.md explains the fields and rules).\n"
        "# Generated by build.py from its tables; edit build.py, run it, then run check.py.\n\n"
    )
    with open(os.path.join(HERE, "expected.toml"), "w", encoding="utf-8") as fh:
        fh.write(header + "\n\n".join(row_toml(r) for r in rows) + "\n")
    print(f"{len(rows)} rows: {sum(r['kind'] == 'real' for r in rows)} real, "
          f"{sum(r['kind'] == 'built' for r in rows)} built, {sum(r['kind'] == 'agent' for r in rows)} agent")


if __name__ == "__main__":
    main()
