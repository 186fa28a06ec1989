//! Realistic generated mail, deterministic for a seed: new tickets and replies with quoted
//! history, Chinese in GBK and UTF-8, multipart and HTML-only, small attachments.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, Utc};

/// One generated mail.
#[derive(Debug, Clone)]
pub(super) struct Mail {
    /// Message-ID without angle brackets.
    pub(crate) id: String,
    /// RFC 5322 bytes, CRLF line ends.
    pub(crate) raw: Vec<u8>,
    /// True when it opens a ticket (no In-Reply-To).
    pub(crate) new_ticket: bool,
}

/// What the generator produced.
#[derive(Debug, Clone, Default)]
pub(super) struct Mix {
    pub(super) total: usize,
    pub(super) new: usize,
    pub(super) replies: usize,
    pub(super) gbk: usize,
    pub(super) zh_utf8: usize,
    pub(super) alternative: usize,
    pub(super) html_only: usize,
    pub(super) attachments: usize,
}

impl Mix {
    pub(super) fn new_tickets_in(&self, mails: &[Mail]) -> usize {
        mails.iter().filter(|m| m.new_ticket).count()
    }
}

/// SplitMix64: small, fast and deterministic.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub(super) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub(super) fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

/// How a customer's mail client writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Client {
    /// English, UTF-8 (ASCII in practice), 7bit/8bit.
    En,
    /// Chinese, GBK, base64 bodies (Foxmail / QQ / NetEase style).
    Gbk,
    /// Chinese, UTF-8, 8bit bodies.
    ZhUtf8,
}

/// Text in two renditions, UTF-8 and GBK (ASCII is the same in both), so a reply in either
/// charset can quote a parent written in the other.
#[derive(Debug, Clone, Default)]
pub(super) struct Text {
    pub(super) utf8: String,
    pub(super) gbk: Vec<u8>,
}

impl Text {
    pub(super) fn ascii(&mut self, s: &str) -> &mut Text {
        debug_assert!(s.is_ascii());
        self.utf8.push_str(s);
        self.gbk.extend_from_slice(s.as_bytes());
        self
    }
    pub(super) fn zh(&mut self, z: Zh) -> &mut Text {
        self.utf8.push_str(z.0);
        self.gbk.extend_from_slice(z.1);
        self
    }
    pub(super) fn text(&mut self, t: &Text) -> &mut Text {
        self.utf8.push_str(&t.utf8);
        self.gbk.extend_from_slice(&t.gbk);
        self
    }
    pub(super) fn bytes(&self, client: Client) -> &[u8] {
        match client {
            Client::Gbk => &self.gbk,
            _ => self.utf8.as_bytes(),
        }
    }
    /// The first `max` lines, each prefixed with `prefix`.
    pub(super) fn quoted(&self, prefix: &str, max: usize) -> Text {
        let mut out = Text::default();
        // `\n` never occurs inside a GBK double-byte character, so both split alike.
        for (u, g) in self
            .utf8
            .split('\n')
            .zip(self.gbk.split(|&b| b == b'\n'))
            .take(max)
        {
            out.utf8.push_str(prefix);
            out.utf8.push_str(u);
            out.utf8.push('\n');
            out.gbk.extend_from_slice(prefix.as_bytes());
            out.gbk.extend_from_slice(g);
            out.gbk.push(b'\n');
        }
        out
    }
}

pub(super) struct Customer {
    pub(super) client: Client,
    pub(super) name: Text,
    pub(super) address: String,
    pub(super) domain: String,
    pub(super) company: String,
    pub(super) customer_id: Option<String>,
    pub(super) tz: FixedOffset,
}

/// What a reply needs to know about an earlier mail.
pub(super) struct Earlier {
    pub(super) id: String,
    pub(super) references: Vec<String>,
    pub(super) subject: Text,
    pub(super) customer: usize,
    pub(super) from: String,
    pub(super) date: DateTime<FixedOffset>,
    pub(super) body: Text,
}

/// Generates a support mailbox's worth of mail.
pub(super) struct Generator {
    pub(super) rng: Rng,
    pub(super) support: String,
    pub(super) run: String,
    pub(super) base: DateTime<Utc>,
    pub(super) customers: Vec<Customer>,
    pub(super) earlier: Vec<Earlier>,
    pub(super) count: usize,
    pub(super) mix: Mix,
}

impl Generator {
    /// A generator for about `planned` mails addressed to `support`.
    pub(crate) fn new(seed: u64, support: &str, planned: usize) -> Generator {
        let mut rng = Rng(seed ^ 0x5EED_5EED);
        let n_customers = (planned / 8).clamp(20, 5_000);
        let customers = (0..n_customers)
            .map(|k| {
                // Exactly 30 % of the customers write Chinese: 15 % GBK, 15 % UTF-8.
                let client = match k % 20 {
                    0..=2 => Client::Gbk,
                    3..=5 => Client::ZhUtf8,
                    _ => Client::En,
                };
                let company = EN_COMPANIES[k % EN_COMPANIES.len()];
                let mut name = Text::default();
                let (address, domain, tz);
                if client == Client::En {
                    let first = rng.pick(EN_FIRST);
                    let last = rng.pick(EN_LAST);
                    name.ascii(&format!("{first} {last}"));
                    domain = format!("{company}{k}.example");
                    address = format!("{}.{}@{domain}", first.to_lowercase(), last.to_lowercase());
                    tz = FixedOffset::west_opt(3600 * rng.range(0, 8) as i32).unwrap();
                } else {
                    name.zh(rng.pick(ZH_NAMES));
                    domain = format!("{company}{k}.example.cn");
                    address = format!("user{}@{domain}", rng.range(100, 999));
                    tz = FixedOffset::east_opt(8 * 3600).unwrap();
                }
                let customer_id = rng
                    .chance(40)
                    .then(|| format!("C-{:05}", rng.range(10_000, 99_999)));
                Customer {
                    client,
                    name,
                    address,
                    domain,
                    company: company.to_owned(),
                    customer_id,
                    tz,
                }
            })
            .collect();
        Generator {
            rng,
            support: support.to_owned(),
            run: format!("{:x}", Utc::now().timestamp()),
            // Mails are 7 s apart and end about now.
            base: Utc::now() - chrono::Duration::seconds(7 * planned as i64),
            customers,
            earlier: Vec::new(),
            count: 0,
            mix: Mix::default(),
        }
    }

    /// The next `n` mails.
    pub(crate) fn take(&mut self, n: usize) -> Vec<Mail> {
        (0..n).map(|_| self.next_mail()).collect()
    }

    pub(super) fn next_mail(&mut self) -> Mail {
        let i = self.count;
        self.count += 1;
        let rng = &mut self.rng;
        // Replies mostly continue recent conversations.
        let parent = (!self.earlier.is_empty() && rng.chance(40)).then(|| {
            let window = self.earlier.len().min(500);
            self.earlier.len() - 1 - rng.below(window)
        });
        let customer_ix = match parent {
            Some(p) => self.earlier[p].customer,
            None => rng.below(self.customers.len()),
        };
        let c = &self.customers[customer_ix];
        let date = (self.base + chrono::Duration::seconds(7 * i as i64)).with_timezone(&c.tz);
        let id = format!(
            "{}.{i:06}.{:08x}@{}",
            self.run,
            rng.next() as u32,
            if c.client == Client::En {
                format!("mail.{}", c.domain)
            } else {
                c.domain.clone()
            }
        );

        // Subject and body.
        let mut subject = Text::default();
        let mut body = Text::default();
        let mut references = Vec::new();
        let zh = c.client != Client::En;
        match parent {
            None => {
                let number = rng.range(10_000, 999_999).to_string();
                if zh {
                    subject.zh(rng.pick(ZH_TOPICS)).ascii(" #").ascii(&number);
                    body.zh(ZH_HELLO).ascii("\n\n");
                    for _ in 0..rng.range(2, 5) {
                        body.zh(rng.pick(ZH_SENTENCES)).ascii("\n");
                    }
                    if let Some(cid) = &c.customer_id
                        && rng.chance(60)
                    {
                        body.zh(ZH_CUSTOMER_NO).ascii(cid).ascii("\n");
                    }
                    body.ascii("\n").zh(ZH_THANKS).ascii("\n").text(&c.name);
                } else {
                    subject.ascii(&rng.pick(EN_TOPICS).replace("{}", &number));
                    body.ascii(rng.pick(EN_GREETINGS)).ascii("\n\n");
                    let mut para = String::new();
                    for _ in 0..rng.range(3, 7) {
                        para.push_str(rng.pick(EN_SENTENCES));
                        para.push(' ');
                    }
                    body.ascii(&wrap(para.trim_end(), 72));
                    if let Some(cid) = &c.customer_id
                        && rng.chance(60)
                    {
                        body.ascii(&format!("\nOur customer ID is {cid}.\n"));
                    }
                    body.ascii("\n").ascii(rng.pick(EN_CLOSINGS)).ascii("\n");
                    body.text(&c.name);
                }
                body.ascii(&format!(
                    "\n{} Ltd.\nPhone +1 555 01{:02}\n",
                    capitalise(&c.company),
                    rng.below(100)
                ));
            }
            Some(p) => {
                let e = &self.earlier[p];
                subject.text(&e.subject);
                references = e.references.clone();
                references.push(e.id.clone());
                let keep = references.len().saturating_sub(10);
                references.drain(..keep);
                if zh {
                    body.zh(ZH_HELLO).ascii("\n\n");
                    for _ in 0..rng.range(1, 2) {
                        body.zh(rng.pick(ZH_FOLLOWUPS)).ascii("\n");
                    }
                    body.ascii("\n").text(&c.name).ascii("\n\n");
                    body.zh(ZH_ORIGINAL).ascii("\n").zh(ZH_FROM);
                    body.ascii(&format!("<{}>\n\n", e.from));
                    body.text(&e.body.quoted("", 30));
                } else {
                    body.ascii(&wrap(rng.pick(EN_FOLLOWUPS), 72));
                    body.ascii("\n").ascii(rng.pick(EN_CLOSINGS)).ascii("\n");
                    body.text(&c.name).ascii("\n\n");
                    body.ascii(&format!(
                        "On {}, {} wrote:\n",
                        e.date.format("%a, %d %b %Y at %H:%M"),
                        e.from
                    ));
                    body.text(&e.body.quoted("> ", 30));
                }
            }
        }

        // MIME structure.
        let mix = &mut self.mix;
        mix.total += 1;
        match (parent.is_some(), c.client) {
            (true, _) => mix.replies += 1,
            (false, _) => mix.new += 1,
        }
        match c.client {
            Client::Gbk => mix.gbk += 1,
            Client::ZhUtf8 => mix.zh_utf8 += 1,
            Client::En => {}
        }
        let shape = rng.below(100);
        let mut entity = if shape < 2 {
            mix.html_only += 1;
            part("text/html", c.client, html(&body).bytes(c.client))
        } else if shape < 22 {
            mix.alternative += 1;
            let b = format!("----=_Part_{:016x}", rng.next());
            multipart(
                "alternative",
                &b,
                &[
                    part("text/plain", c.client, body.bytes(c.client)),
                    part("text/html", c.client, html(&body).bytes(c.client)),
                ],
            )
        } else {
            part("text/plain", c.client, body.bytes(c.client))
        };
        if rng.chance(3) {
            mix.attachments += 1;
            let size = rng.range(2_000, 16_000);
            let (ctype, name, magic): (&str, String, &[u8]) = if rng.chance(60) {
                (
                    "image/png",
                    format!("screenshot-{i}.png"),
                    b"\x89PNG\r\n\x1a\n",
                )
            } else {
                ("application/pdf", format!("invoice-{i}.pdf"), b"%PDF-1.4\n")
            };
            let mut data = magic.to_vec();
            while data.len() < size {
                data.extend_from_slice(&rng.next().to_le_bytes());
            }
            let mut att = format!(
                "Content-Type: {ctype}; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\
                 Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n"
            )
            .into_bytes();
            att.extend_from_slice(base64_lines(&data).as_bytes());
            let b = format!("----=_Mixed_{:016x}", rng.next());
            entity = multipart("mixed", &b, &[entity, att]);
        }

        // Header.
        let mut h = String::new();
        let rfc = |d: &DateTime<FixedOffset>| d.to_rfc2822();
        let received = date.with_timezone(&Utc).fixed_offset();
        let _ = write!(
            h,
            "Return-Path: <{from}>\r\n\
             Received: from mail.{dom} (mail.{dom} [198.51.100.{ip}])\r\n\
             \tby mx.supportd.example (Postfix) with ESMTPS id {qid:010X}\r\n\
             \tfor <{support}>; {rdate}\r\n\
             Received: from [10.{a}.{b}.{ip}] (unknown [10.{a}.{b}.{ip}])\r\n\
             \tby mail.{dom} with ESMTPSA id {qid2:012x}; {date}\r\n\
             DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={dom}; s=s1;\r\n\
             \th=from:to:subject:date:message-id; bh={bh};\r\n\tb={sig}\r\n",
            from = c.address,
            dom = c.domain,
            ip = rng.range(1, 254),
            a = rng.below(256),
            b = rng.below(256),
            qid = rng.next() & 0xFF_FFFF_FFFF,
            qid2 = rng.next() & 0xFFFF_FFFF_FFFF,
            support = self.support,
            rdate = rfc(&received),
            date = rfc(&date),
            bh = base64(&rng.next().to_le_bytes().repeat(4)),
            sig = base64(
                &(0..32)
                    .flat_map(|_| rng.next().to_le_bytes())
                    .collect::<Vec<_>>()
            )
            .as_bytes()
            .chunks(70)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n\t "),
        );
        let display = if zh {
            encoded_words(&c.name, c.client)
        } else {
            format!("\"{}\"", c.name.utf8)
        };
        let _ = write!(
            h,
            "From: {display} <{}>\r\nTo: {}\r\nSubject: {}{}\r\nDate: {}\r\nMessage-ID: <{id}>\r\n",
            c.address,
            self.support,
            if parent.is_some() { "Re: " } else { "" },
            encoded_words(&subject, c.client),
            rfc(&date),
        );
        if let Some(last) = references.last() {
            let refs: Vec<String> = references.iter().map(|r| format!("<{r}>")).collect();
            let _ = write!(
                h,
                "In-Reply-To: <{last}>\r\nReferences: {}\r\n",
                refs.join("\r\n ")
            );
        }
        let _ = write!(
            h,
            "X-Mailer: {}\r\nMIME-Version: 1.0\r\n",
            match c.client {
                Client::Gbk => "Foxmail 7.2.25.228[cn]",
                Client::ZhUtf8 => "NetEase Mail Master 5.2",
                Client::En => rng.pick(EN_MAILERS),
            }
        );
        let mut raw = h.into_bytes();
        raw.extend_from_slice(&entity);

        self.earlier.push(Earlier {
            id: id.clone(),
            references,
            subject,
            customer: customer_ix,
            from: c.address.clone(),
            date,
            body: body.quoted("", 40),
        });
        Mail {
            id,
            raw,
            new_ticket: parent.is_none(),
        }
    }
}

/// A leaf MIME entity: its header lines, a blank line and the encoded body.
pub(super) fn part(ctype: &str, client: Client, body: &[u8]) -> Vec<u8> {
    let crlf = crlf(body);
    let (charset, cte) = match client {
        Client::Gbk => ("gbk", "base64"),
        Client::ZhUtf8 => ("utf-8", "8bit"),
        Client::En if body.is_ascii() => ("utf-8", "7bit"),
        Client::En => ("utf-8", "8bit"),
    };
    let mut out = format!(
        "Content-Type: {ctype}; charset=\"{charset}\"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    .into_bytes();
    if cte == "base64" {
        out.extend_from_slice(base64_lines(&crlf).as_bytes());
    } else {
        out.extend_from_slice(&crlf);
    }
    out
}

pub(super) fn multipart(sub: &str, boundary: &str, parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!(
        "Content-Type: multipart/{sub}; boundary=\"{boundary}\"\r\n\r\n\
         This is a multi-part message in MIME format.\r\n"
    )
    .into_bytes();
    for p in parts {
        out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        out.extend_from_slice(p);
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The text as a simple HTML document, one paragraph per line.
pub(super) fn html(t: &Text) -> Text {
    let mut out = Text::default();
    out.ascii(
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html\"></head>\n<body>\n",
    );
    for (u, g) in t.utf8.split('\n').zip(t.gbk.split(|&b| b == b'\n')) {
        // `<`, `>` and `&` are ASCII, never part of a GBK character.
        let esc = |s: &[u8]| -> Vec<u8> {
            let mut o = Vec::with_capacity(s.len());
            for &b in s {
                match b {
                    b'<' => o.extend_from_slice(b"&lt;"),
                    b'>' => o.extend_from_slice(b"&gt;"),
                    b'&' => o.extend_from_slice(b"&amp;"),
                    _ => o.push(b),
                }
            }
            o
        };
        out.utf8.push_str("<div>");
        out.utf8
            .push_str(&String::from_utf8(esc(u.as_bytes())).unwrap_or_default());
        out.utf8.push_str("</div>\n");
        out.gbk.extend_from_slice(b"<div>");
        out.gbk.extend_from_slice(&esc(g));
        out.gbk.extend_from_slice(b"</div>\n");
    }
    out.ascii("</body></html>\n");
    out
}

/// RFC 2047 encoded words (folded), or the text itself when it is ASCII.
pub(super) fn encoded_words(t: &Text, client: Client) -> String {
    let (charset, bytes) = match client {
        Client::Gbk => ("GBK", t.gbk.as_slice()),
        _ if t.utf8.is_ascii() => return t.utf8.clone(),
        _ => ("UTF-8", t.utf8.as_bytes()),
    };
    // Split on character boundaries so every word decodes on its own.
    let mut words = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let len = match client {
            Client::Gbk if bytes[i] >= 0x81 => 2,
            Client::Gbk => 1,
            _ => match bytes[i] {
                0xF0.. => 4,
                0xE0.. => 3,
                0xC0.. => 2,
                _ => 1,
            },
        };
        if i + len - start > 36 {
            words.push(&bytes[start..i]);
            start = i;
        }
        i += len;
    }
    words.push(&bytes[start..]);
    words
        .iter()
        .map(|w| format!("=?{charset}?B?{}?=", base64(w)))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

pub(super) fn crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 40);
    for &c in b {
        if c == b'\n' {
            out.push(b'\r');
        }
        out.push(c);
    }
    out
}

pub(super) fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out.push('\n');
    out
}

pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub(super) fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Base64 in 76-character lines, CRLF-terminated.
pub(super) fn base64_lines(data: &[u8]) -> String {
    let b = base64(data);
    let mut out = String::with_capacity(b.len() + b.len() / 38 + 2);
    for chunk in b.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str("\r\n");
    }
    out
}

const EN_FIRST: &[&str] = &[
    "Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Oscar",
    "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Wendy",
];
const EN_LAST: &[&str] = &[
    "Smith", "Jones", "Miller", "Garcia", "Brown", "Wilson", "Taylor", "Clark", "Lewis", "Walker",
    "Young", "King",
];
const EN_COMPANIES: &[&str] = &[
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "vandelay",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
    "soylent",
];
const EN_MAILERS: &[&str] = &[
    "Microsoft Outlook 16.0",
    "Apple Mail (2.3774.300.61.1.2)",
    "Mozilla Thunderbird 128.5.0",
];
const EN_TOPICS: &[&str] = &[
    "Cannot log in to the admin console (account {})",
    "Invoice {} shows the wrong VAT number",
    "Refund request for order #{}",
    "Data sync fails with error E{}",
    "Printer in office {} cannot reach the network",
    "Password reset mail never arrives (user {})",
    "Features still locked after renewing licence {}",
    "Report export {} produces a broken CSV file",
    "URGENT: production API returns 500 for request {}",
    "Question about pricing for {} additional seats",
];
const EN_GREETINGS: &[&str] = &["Hello,", "Hi support team,", "Dear Support,", "Hi there,"];
const EN_SENTENCES: &[&str] = &[
    "Since this morning none of our users can log in.",
    "The error message says that the password is wrong, but it was just reset.",
    "We already restarted the server and cleared the browser cache, without success.",
    "This blocks our whole accounting department, so please treat it as urgent.",
    "I attached a screenshot of the error dialog.",
    "The same steps worked fine last week.",
    "We are on the Business plan and renewed it on the first of the month.",
    "The export starts, but the file only contains the header row.",
    "Could you please check what is going on and get back to us?",
    "Our IT contact is on holiday this week, so please reply to me directly.",
    "The problem only happens on Windows machines; the Macs are fine.",
];
const EN_FOLLOWUPS: &[&str] = &[
    "Thanks for the quick answer. Unfortunately the problem is still there after following \
     your steps.",
    "One more detail: it started right after the update on Monday afternoon.",
    "That fixed it, thank you! You can close the ticket.",
    "Any news on this? We are still waiting for a fix.",
    "I tried the workaround, but now a different error appears.",
];
const EN_CLOSINGS: &[&str] = &["Best regards,", "Thanks,", "Kind regards,", "Cheers,"];

/// A Chinese phrase as UTF-8 and as GBK bytes.
pub(super) type Zh = (&'static str, &'static [u8]);

const ZH_TOPICS: &[Zh] = &[
    (
        "无法登录账户",
        b"\xce\xde\xb7\xa8\xb5\xc7\xc2\xbc\xd5\xcb\xbb\xa7",
    ),
    (
        "发票开具问题",
        b"\xb7\xa2\xc6\xb1\xbf\xaa\xbe\xdf\xce\xca\xcc\xe2",
    ),
    (
        "订单退款申请",
        b"\xb6\xa9\xb5\xa5\xcd\xcb\xbf\xee\xc9\xea\xc7\xeb",
    ),
    (
        "系统报错：数据同步失败",
        b"\xcf\xb5\xcd\xb3\xb1\xa8\xb4\xed\xa3\xba\xca\xfd\xbe\xdd\xcd\xac\xb2\xbd\xca\xa7\xb0\xdc",
    ),
    (
        "打印机无法连接网络",
        b"\xb4\xf2\xd3\xa1\xbb\xfa\xce\xde\xb7\xa8\xc1\xac\xbd\xd3\xcd\xf8\xc2\xe7",
    ),
    (
        "密码重置邮件收不到",
        b"\xc3\xdc\xc2\xeb\xd6\xd8\xd6\xc3\xd3\xca\xbc\xfe\xca\xd5\xb2\xbb\xb5\xbd",
    ),
    (
        "续费后功能仍受限",
        b"\xd0\xf8\xb7\xd1\xba\xf3\xb9\xa6\xc4\xdc\xc8\xd4\xca\xdc\xcf\xde",
    ),
    (
        "导出报表格式错误",
        b"\xb5\xbc\xb3\xf6\xb1\xa8\xb1\xed\xb8\xf1\xca\xbd\xb4\xed\xce\xf3",
    ),
];
const ZH_SENTENCES: &[Zh] = &[
    ("我们公司的账户从今天上午开始无法登录。", b"\xce\xd2\xc3\xc7\xb9\xab\xcb\xbe\xb5\xc4\xd5\xcb\xbb\xa7\xb4\xd3\xbd\xf1\xcc\xec\xc9\xcf\xce\xe7\xbf\xaa\xca\xbc\xce\xde\xb7\xa8\xb5\xc7\xc2\xbc\xa1\xa3"),
    ("错误提示是“用户名或密码不正确”，但密码确认无误。", b"\xb4\xed\xce\xf3\xcc\xe1\xca\xbe\xca\xc7\xa1\xb0\xd3\xc3\xbb\xa7\xc3\xfb\xbb\xf2\xc3\xdc\xc2\xeb\xb2\xbb\xd5\xfd\xc8\xb7\xa1\xb1\xa3\xac\xb5\xab\xc3\xdc\xc2\xeb\xc8\xb7\xc8\xcf\xce\xde\xce\xf3\xa1\xa3"),
    ("我们已经尝试重启设备，但问题依旧。", b"\xce\xd2\xc3\xc7\xd2\xd1\xbe\xad\xb3\xa2\xca\xd4\xd6\xd8\xc6\xf4\xc9\xe8\xb1\xb8\xa3\xac\xb5\xab\xce\xca\xcc\xe2\xd2\xc0\xbe\xc9\xa1\xa3"),
    ("这个问题影响到我们整个部门的工作，请尽快帮忙处理。", b"\xd5\xe2\xb8\xf6\xce\xca\xcc\xe2\xd3\xb0\xcf\xec\xb5\xbd\xce\xd2\xc3\xc7\xd5\xfb\xb8\xf6\xb2\xbf\xc3\xc5\xb5\xc4\xb9\xa4\xd7\xf7\xa3\xac\xc7\xeb\xbe\xa1\xbf\xec\xb0\xef\xc3\xa6\xb4\xa6\xc0\xed\xa1\xa3"),
    ("附件是相关的截图，请查收。", b"\xb8\xbd\xbc\xfe\xca\xc7\xcf\xe0\xb9\xd8\xb5\xc4\xbd\xd8\xcd\xbc\xa3\xac\xc7\xeb\xb2\xe9\xca\xd5\xa1\xa3"),
    ("系统提示“服务器繁忙，请稍后再试”。", b"\xcf\xb5\xcd\xb3\xcc\xe1\xca\xbe\xa1\xb0\xb7\xfe\xce\xf1\xc6\xf7\xb7\xb1\xc3\xa6\xa3\xac\xc7\xeb\xc9\xd4\xba\xf3\xd4\xd9\xca\xd4\xa1\xb1\xa1\xa3"),
    ("同样的操作在上周还是正常的。", b"\xcd\xac\xd1\xf9\xb5\xc4\xb2\xd9\xd7\xf7\xd4\xda\xc9\xcf\xd6\xdc\xbb\xb9\xca\xc7\xd5\xfd\xb3\xa3\xb5\xc4\xa1\xa3"),
];
const ZH_FOLLOWUPS: &[Zh] = &[
    ("上次的回复已收到，但问题还没有解决。", b"\xc9\xcf\xb4\xce\xb5\xc4\xbb\xd8\xb8\xb4\xd2\xd1\xca\xd5\xb5\xbd\xa3\xac\xb5\xab\xce\xca\xcc\xe2\xbb\xb9\xc3\xbb\xd3\xd0\xbd\xe2\xbe\xf6\xa1\xa3"),
    ("补充一下，出错的时间大约是下午三点。", b"\xb2\xb9\xb3\xe4\xd2\xbb\xcf\xc2\xa3\xac\xb3\xf6\xb4\xed\xb5\xc4\xca\xb1\xbc\xe4\xb4\xf3\xd4\xbc\xca\xc7\xcf\xc2\xce\xe7\xc8\xfd\xb5\xe3\xa1\xa3"),
    ("按照您说的步骤操作后，现在可以正常使用了，谢谢！", b"\xb0\xb4\xd5\xd5\xc4\xfa\xcb\xb5\xb5\xc4\xb2\xbd\xd6\xe8\xb2\xd9\xd7\xf7\xba\xf3\xa3\xac\xcf\xd6\xd4\xda\xbf\xc9\xd2\xd4\xd5\xfd\xb3\xa3\xca\xb9\xd3\xc3\xc1\xcb\xa3\xac\xd0\xbb\xd0\xbb\xa3\xa1"),
    ("请问这个问题大概什么时候能处理好？", b"\xc7\xeb\xce\xca\xd5\xe2\xb8\xf6\xce\xca\xcc\xe2\xb4\xf3\xb8\xc5\xca\xb2\xc3\xb4\xca\xb1\xba\xf2\xc4\xdc\xb4\xa6\xc0\xed\xba\xc3\xa3\xbf"),
];
const ZH_NAMES: &[Zh] = &[
    ("张伟", b"\xd5\xc5\xce\xb0"),
    ("王芳", b"\xcd\xf5\xb7\xbc"),
    ("李娜", b"\xc0\xee\xc4\xc8"),
    ("刘强", b"\xc1\xf5\xc7\xbf"),
    ("陈静", b"\xb3\xc2\xbe\xb2"),
    ("杨洋", b"\xd1\xee\xd1\xf3"),
    ("赵磊", b"\xd5\xd4\xc0\xda"),
];
const ZH_HELLO: Zh = ("您好：", b"\xc4\xfa\xba\xc3\xa3\xba");
const ZH_THANKS: Zh = ("谢谢！", b"\xd0\xbb\xd0\xbb\xa3\xa1");
const ZH_CUSTOMER_NO: Zh = ("客户编号：", b"\xbf\xcd\xbb\xa7\xb1\xe0\xba\xc5\xa3\xba");
const ZH_ORIGINAL: Zh = ("------------------ 原始邮件 ------------------", b"\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x20\xd4\xad\xca\xbc\xd3\xca\xbc\xfe\x20\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d");
const ZH_FROM: Zh = ("发件人：", b"\xb7\xa2\xbc\xfe\xc8\xcb\xa3\xba");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::parse;

    #[test]
    fn generated_mail_parses_threads_and_decodes_gbk() {
        let mut g = Generator::new(7, "support@example.com", 400);
        let mails = g.take(400);
        let mut ids = std::collections::HashSet::new();
        let (mut gbk_seen, mut replies) = (0, 0);
        for m in &mails {
            assert!(ids.insert(m.id.clone()), "duplicate Message-ID {}", m.id);
            let p = parse::parse(&m.raw).unwrap_or_else(|e| {
                panic!("{e}:\n{}", String::from_utf8_lossy(&m.raw));
            });
            assert_eq!(p.message_id, m.id);
            assert!(!p.subject.is_empty());
            assert!(!p.reply_text.trim().is_empty(), "{}", p.text);
            assert!(!p.machine.is_machine_generated(), "{:?}", p.machine);
            if m.new_ticket {
                assert!(p.in_reply_to.is_empty());
            } else {
                replies += 1;
                assert!(ids.contains(&p.in_reply_to[0]));
                assert!(p.subject.starts_with("Re: "), "{}", p.subject);
                // The quoted history is recognised and cut.
                assert!(p.reply_text.len() < p.text.len(), "{}", p.text);
            }
            if m.raw.windows(12).any(|w| w == b"charset=\"gbk") {
                gbk_seen += 1;
                assert!(
                    ZH_TOPICS.iter().any(|z| p.subject.contains(z.0)),
                    "{}",
                    p.subject
                );
                assert!(p.text.contains(ZH_HELLO.0), "{}", p.text);
            }
        }
        assert!(gbk_seen > 20, "{gbk_seen}");
        assert!((120..=200).contains(&replies), "{replies}");
        assert_eq!(g.mix.total, 400);
        assert!(g.mix.attachments > 0);
    }
}
