//! The module tree's promises, checked from the source text: imports point one way down the
//! layers, no two modules import each other (directly or in a ring), and the pure core names no
//! I/O. Clippy's `disallowed_methods`/`disallowed_types` (see `.clippy.toml`) enforce the last
//! point on resolved paths; this test also catches what clippy cannot see: a core file naming
//! `tokio`, `sled` or a shell module at all.
//!
//! `cargo nextest run --test layers --no-capture` prints the graph summary and any cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may import its own layer and the layers below it.
const LAYERS: [&str; 7] = ["mail", "domain", "config", "desk", "io", "service", "cli"];

/// The pure core: no network, disk, environment or wall clock.
const CORE: [&str; 4] = ["mail", "domain", "config", "desk"];

/// Test-only support (`#[cfg(test)]`) that any layer's unit tests may use: it imports nothing
/// from the crate, so it sits below every layer.
const BELOW_ALL: [&str; 1] = ["fixtures"];

/// What a core file must not name: the shell's modules, the runtime, the database, and the
/// parts of std that reach outside the process or read the clock. (`std::net`'s address types
/// are plain values and allowed; its sockets and name resolution are not.)
const CORE_FORBIDDEN: [&str; 15] = [
    "crate::io",
    "crate::service",
    "crate::cli",
    "tokio",
    "sled",
    "std::fs",
    "std::env",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::net::UdpSocket",
    "std::net::ToSocketAddrs",
    "std::os",
    "std::process",
    "std::time::SystemTime",
    "std::time::Instant",
];

/// Calls that read the wall clock, whichever way they were imported.
const CLOCK_CALLS: [&str; 3] = ["Utc::now", "Local::now", "Instant::now"];

#[test]
fn imports_point_down_the_layers_without_cycles_and_the_core_names_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tree = Tree::read(&src);
    let mut failures = Vec::new();

    // Every top-level module is a layer (or test support), so nothing escapes the rules.
    for m in tree.files.keys() {
        let top = m.split("::").next().unwrap_or_default();
        if !m.is_empty() && !LAYERS.contains(&top) && !BELOW_ALL.contains(&top) {
            failures.push(format!(
                "src: `{m}` is in no layer (expected one of {LAYERS:?})"
            ));
        }
    }

    let edges = tree.edges();
    for ((from, to), how) in &edges {
        if let (Some(a), Some(b)) = (rank(from), rank(to))
            && b > a
        {
            failures.push(format!(
                "{}: `{from}` (layer {}) imports `{to}` (layer {}) via `{how}`: imports point down",
                tree.files[from].display(),
                layer_name(a),
                layer_name(b)
            ));
        }
    }

    for depth in [None, Some(2), Some(1)] {
        let graph = collapse(&edges, depth);
        for cycle in cycles(&graph) {
            failures.push(format!(
                "import cycle among {} (each reaches the others): {}",
                match depth {
                    None => "modules".to_owned(),
                    Some(1) => "layers".to_owned(),
                    Some(d) => format!("module directories (depth {d})"),
                },
                cycle.join(", ")
            ));
        }
    }

    for (m, path) in &tree.files {
        let top = m.split("::").next().unwrap_or_default();
        if !CORE.contains(&top) {
            continue;
        }
        let code = &tree.code[m];
        for p in &tree.paths[m] {
            for f in CORE_FORBIDDEN {
                if p == f || p.starts_with(&format!("{f}::")) {
                    failures.push(format!("{}: core module `{m}` names `{p}`", path.display()));
                }
            }
        }
        for word in ["tokio", "sled"] {
            if has_word(code, word) {
                failures.push(format!(
                    "{}: core module `{m}` names `{word}`",
                    path.display()
                ));
            }
        }
        for call in CLOCK_CALLS {
            if code.contains(call) {
                failures.push(format!(
                    "{}: core module `{m}` reads the wall clock (`{call}`); take `now` as a parameter",
                    path.display()
                ));
            }
        }
        if tree.is_layer_root(m) {
            let attr = "#![deny(clippy::disallowed_methods, clippy::disallowed_types)]";
            if !tree.raw[m].contains(attr) {
                failures.push(format!(
                    "{}: core layer root lacks `{attr}`",
                    path.display()
                ));
            }
        }
    }

    // The summary, for `--no-capture`.
    let mut per_layer: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (from, to) in edges.keys() {
        if let (Some(a), Some(b)) = (rank(from), rank(to)) {
            *per_layer.entry((a, b)).or_default() += 1;
        }
    }
    println!(
        "{} modules (one per file), {} import edges between them; by layer:",
        tree.files.len(),
        edges.len()
    );
    for ((a, b), n) in &per_layer {
        println!("  {:>7} -> {:<7} {n}", layer_name(*a), layer_name(*b));
    }
    for depth in [None, Some(2), Some(1)] {
        let graph = collapse(&edges, depth);
        let nodes: BTreeSet<&String> = graph.keys().chain(graph.values().flatten()).collect();
        println!(
            "cycles between {}: {} ({} nodes)",
            match depth {
                None => "modules",
                Some(1) => "layers",
                _ => "module directories",
            },
            cycles(&graph).len(),
            nodes.len()
        );
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

fn rank(module: &str) -> Option<usize> {
    let top = module.split("::").next()?;
    if BELOW_ALL.contains(&top) {
        return Some(0);
    }
    LAYERS.iter().position(|l| *l == top).map(|i| i + 1)
}

fn layer_name(rank: usize) -> &'static str {
    if rank == 0 {
        "fixtures"
    } else {
        LAYERS[rank - 1]
    }
}

/// The crate's files, their module paths and what each one's code refers to.
struct Tree {
    /// Module path (`desk::accept`; `""` for lib.rs) → file.
    files: BTreeMap<String, PathBuf>,
    /// Module path → its code without comments and string literals.
    code: BTreeMap<String, String>,
    /// Module path → its source as written (for attributes).
    raw: BTreeMap<String, String>,
    /// Module path → every path its code names, resolved to absolute form where it is relative
    /// (`crate::…`, `std::…`, `tokio::…`).
    paths: BTreeMap<String, Vec<String>>,
}

impl Tree {
    fn read(src: &Path) -> Tree {
        let mut files = BTreeMap::new();
        let mut stack = vec![src.to_owned()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("src is readable") {
                let p = e.expect("directory entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let rel = p.strip_prefix(src).expect("under src");
                    if rel == Path::new("main.rs") {
                        continue; // the binary, outside the library's tree
                    }
                    files.insert(module_of(rel), p);
                }
            }
        }
        let mut tree = Tree {
            files,
            code: BTreeMap::new(),
            raw: BTreeMap::new(),
            paths: BTreeMap::new(),
        };
        let modules: BTreeSet<String> = tree.files.keys().cloned().collect();
        for (m, p) in &tree.files {
            let raw = std::fs::read_to_string(p).expect("source is readable");
            let code = strip(&raw);
            tree.paths
                .insert(m.clone(), referenced_paths(m, &code, &modules));
            tree.code.insert(m.clone(), code);
            tree.raw.insert(m.clone(), raw);
        }
        tree
    }

    fn is_layer_root(&self, m: &str) -> bool {
        !m.contains("::") && !m.is_empty()
    }

    /// `(from, to)` → one path that makes the edge, for every import between two different
    /// modules (a file's own inline modules count as the file).
    fn edges(&self) -> BTreeMap<(String, String), String> {
        let modules: BTreeSet<&str> = self.files.keys().map(String::as_str).collect();
        let mut edges = BTreeMap::new();
        for (m, paths) in &self.paths {
            for p in paths {
                let Some(rest) = p.strip_prefix("crate::") else {
                    continue;
                };
                let segs: Vec<&str> = rest.split("::").collect();
                let target = (1..=segs.len())
                    .rev()
                    .map(|n| segs[..n].join("::"))
                    .find(|c| modules.contains(c.as_str()));
                if let Some(t) = target
                    && &t != m
                    && !m.is_empty()
                {
                    edges.entry((m.clone(), t)).or_insert_with(|| p.clone());
                }
            }
        }
        edges
    }
}

fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    match last.as_str() {
        "lib.rs" | "mod.rs" => {}
        f => parts.push(f.trim_end_matches(".rs").to_owned()),
    }
    parts.join("::")
}

/// `code` without comments, string and character literals (each replaced by a space, so words
/// stay apart); lifetimes are kept.
fn strip(code: &str) -> String {
    let c: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if c[i] == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if (c[i] == 'r' || (c[i] == 'b' && at(i + 1) == 'r')) && !prev_is_ident(&c, i) && {
            let s = if c[i] == 'b' { i + 2 } else { i + 1 };
            let mut k = s;
            while at(k) == '#' {
                k += 1;
            }
            at(k) == '"'
        } {
            let s = if c[i] == 'b' { i + 2 } else { i + 1 };
            let mut k = s;
            while at(k) == '#' {
                k += 1;
            }
            let hashes = k - s;
            i = k + 1;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#') {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            out.push(' ');
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c[i] == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            i += 1;
            while i < c.len() && c[i] != '\'' {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

fn has_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Every path `code` (of module `module`) names in a `use` declaration or inline, in absolute
/// form: `crate::…` for the crate's own items, the crate name first for others.
fn referenced_paths(module: &str, code: &str, modules: &BTreeSet<String>) -> Vec<String> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    // The module each token is in: the file's module plus the inline `mod x { … }` around it.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut children: BTreeSet<String> = modules
        .iter()
        .filter_map(|m| {
            let rest = if module.is_empty() {
                Some(m.as_str())
            } else {
                m.strip_prefix(&format!("{module}::"))
            }?;
            (!rest.is_empty() && !rest.contains("::")).then(|| rest.to_owned())
        })
        .collect();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        let here = || {
            let mut segs: Vec<String> = if module.is_empty() {
                Vec::new()
            } else {
                module.split("::").map(str::to_owned).collect()
            };
            segs.extend(inline.iter().map(|(n, _)| n.clone()));
            segs
        };
        match t {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).map(String::as_str) == Some("{") => {
                let name = tokens[i + 1].clone();
                children.insert(name.clone());
                inline.push((name, depth));
                depth += 1;
                i += 3;
                continue;
            }
            "use" => {
                let end = (i..tokens.len())
                    .find(|&k| tokens[k] == ";")
                    .unwrap_or(tokens.len());
                let mut trees = Vec::new();
                use_tree(&tokens[i + 1..end], &[], &mut trees);
                for segs in trees {
                    if let Some(p) = absolute(&segs, &here(), &children) {
                        out.push(p);
                    }
                }
                i = end;
                continue;
            }
            _ if is_ident(t) && tokens.get(i + 1).map(String::as_str) == Some("::") => {
                let prev = i.checked_sub(1).map(|k| tokens[k].as_str());
                if prev != Some("::") {
                    let mut segs = vec![t.to_owned()];
                    let mut k = i + 1;
                    while tokens.get(k).map(String::as_str) == Some("::")
                        && tokens.get(k + 1).is_some_and(|s| is_ident(s))
                    {
                        segs.push(tokens[k + 1].clone());
                        k += 2;
                    }
                    if let Some(p) = absolute(&segs, &here(), &children) {
                        out.push(p);
                    }
                    i = k;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Resolves a path as written in module `here` to absolute form, or `None` for a local name.
fn absolute(segs: &[String], here: &[String], children: &BTreeSet<String>) -> Option<String> {
    let first = segs.first()?.as_str();
    let join = |base: &[String], rest: &[String]| {
        let mut all = vec!["crate".to_owned()];
        all.extend(base.iter().cloned());
        all.extend(rest.iter().cloned());
        all.join("::")
    };
    match first {
        "crate" => Some(segs.join("::")),
        "self" => Some(join(here, &segs[1..])),
        "super" => {
            let mut base = here.to_vec();
            let mut rest = segs;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
            Some(join(&base, rest))
        }
        _ if children.contains(first) => Some(join(here, segs)),
        // A single segment is a local item, a prelude name or a type's associated item.
        _ if segs.len() == 1 => None,
        _ if first.chars().next().is_some_and(char::is_uppercase) => Some(segs.join("::")),
        _ => Some(segs.join("::")),
    }
}

/// Expands a `use` tree (`a::{b, c::{self, d}}`) into its paths, each after `prefix`; `self` in
/// a group names the group's own path.
fn use_tree(tokens: &[String], prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            "{" => {
                let mut depth = 0;
                let mut item = i + 1;
                for k in i..tokens.len() {
                    match tokens[k].as_str() {
                        "{" => depth += 1,
                        "}" | "," if depth == 1 => {
                            if k > item {
                                use_tree(&tokens[item..k], &path, out);
                            }
                            item = k + 1;
                            if tokens[k] == "}" {
                                return;
                            }
                        }
                        "}" => depth -= 1,
                        _ => {}
                    }
                }
                return;
            }
            "as" | "*" => break,
            "self" if path.len() > prefix.len() || !prefix.is_empty() => {}
            t if is_ident(t) => path.push(t.to_owned()),
            _ => {}
        }
        i += 1;
    }
    if !path.is_empty() {
        out.push(path);
    }
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && t.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn tokenize(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let c: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_alphanumeric() || c[i] == '_' {
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(c[s..i].iter().collect());
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".to_owned());
            i += 2;
        } else if c[i].is_whitespace() {
            i += 1;
        } else {
            out.push(c[i].to_string());
            i += 1;
        }
    }
    out
}

/// The edges with both ends cut to their first `depth` path segments (`None`: whole paths),
/// without self-loops.
fn collapse(
    edges: &BTreeMap<(String, String), String>,
    depth: Option<usize>,
) -> BTreeMap<String, BTreeSet<String>> {
    let cut = |m: &str| match depth {
        None => m.to_owned(),
        Some(d) => m.split("::").take(d).collect::<Vec<_>>().join("::"),
    };
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        let (a, b) = (cut(a), cut(b));
        if a != b {
            g.entry(a).or_default().insert(b);
        }
    }
    g
}

/// The strongly connected components with more than one node (Tarjan), each as a ring of
/// module names.
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        on: BTreeSet<&'a str>,
        stack: Vec<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        if let Some(next) = s.g.get(v) {
            for w in next {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let l = s.low[w].min(s.low[v]);
                    s.low.insert(v, l);
                } else if s.on.contains(w) {
                    let l = s.index[w].min(s.low[v]);
                    s.low.insert(v, l);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.reverse();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on: BTreeSet::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    let nodes: BTreeSet<&str> = g
        .keys()
        .map(String::as_str)
        .chain(g.values().flatten().map(String::as_str))
        .collect();
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}
