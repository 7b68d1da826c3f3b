//! Unified diffs as `git diff` and `diff -u` write them, read for review:
//! which files changed, and each hunk's lines on the new side, numbered as
//! in the new file.
//!
//! Written here rather than taken from a crate: the maintained parsers
//! (`unidiff`, `patch`) panic on inputs such as a `+++` line with no `---`
//! before it or text after the last hunk, which V2 cannot allow from a
//! request body, and neither recognises a binary file.

use std::fmt;

/// Why a diff cannot be read: the diff's line (from 1) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for DiffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// One file the diff changes; its lines borrow from the diff's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff<'a> {
    /// The new file's path (the old one for a deletion), without git's
    /// `a/` and `b/` prefixes.
    pub path: String,
    pub kind: FileKind,
    pub hunks: Vec<Hunk<'a>>,
}

/// What a file's change is, as far as a review cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Text,
    /// `Binary files … differ` or a `GIT binary patch`: nothing to read.
    Binary,
    /// Deleted: no new file to review.
    Deleted,
}

/// One hunk: the diff line its header is on, and its new-side lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk<'a> {
    pub header_line: usize,
    /// Context and added lines, in order.
    pub lines: Vec<NewLine<'a>>,
}

/// A line of the new file that a hunk shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine<'a> {
    /// Its number in the new file, from 1.
    pub number: u32,
    pub text: &'a str,
    /// Added by the change, rather than context.
    pub added: bool,
}

impl FileDiff<'_> {
    /// How many lines the change adds to this file.
    pub fn added_lines(&self) -> usize {
        self.hunks
            .iter()
            .flat_map(|h| &h.lines)
            .filter(|l| l.added)
            .count()
    }

    /// What a model reads of this file: its hunks' new-side lines, in
    /// order, so that line `i` of the excerpt is a known line of the new
    /// file.
    pub fn excerpt(&self) -> Excerpt {
        let lines: Vec<&NewLine> = self.hunks.iter().flat_map(|h| &h.lines).collect();
        let mut code = String::with_capacity(lines.iter().map(|l| l.text.len() + 1).sum());
        for line in &lines {
            code.push_str(line.text);
            code.push('\n');
        }
        Excerpt {
            code,
            lines: lines.iter().map(|l| (l.number, l.added)).collect(),
        }
    }
}

/// A file's hunks as one piece of code, with the way back from its lines
/// to the new file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    pub code: String,
    /// For excerpt line `i + 1`: its number in the new file, and whether
    /// the change added it.
    lines: Vec<(u32, bool)>,
}

impl Excerpt {
    /// Lines `start..=end` of the excerpt (from 1) as lines of the new
    /// file, when they include a line the change added; `None` for a
    /// finding about context only, or outside the excerpt.
    pub fn place(&self, start: u32, end: u32) -> Option<(u32, u32)> {
        let index = |line: u32| usize::try_from(line).ok()?.checked_sub(1);
        let (first, last) = (index(start)?, index(end)?);
        let span = self.lines.get(first..=last)?;
        span.iter()
            .any(|&(_, added)| added)
            .then(|| (span[0].0, span[span.len() - 1].0))
    }
}

/// Reads every file of `diff`. Text before the first file header (a
/// commit message, `git format-patch`'s mail headers) is skipped; within a
/// file, every line must be what a unified diff puts there.
pub fn parse(diff: &str, max_lines: usize) -> Result<Vec<FileDiff<'_>>, DiffError> {
    // Counted before anything is read: the work and memory a diff costs
    // grow with its lines, and a megabyte of empty context lines is a
    // million of them.
    let lines = memchr::memchr_iter(b'\n', diff.as_bytes()).count();
    if lines > max_lines {
        return Err(DiffError {
            line: max_lines + 1,
            message: format!("the diff has {lines} lines; at most {max_lines} are read"),
        });
    }
    let mut reader = Reader {
        lines: diff
            .lines()
            .enumerate()
            .map(numbered as Numbered)
            .peekable(),
        files: Vec::new(),
        current: None,
    };
    reader.read()?;
    if reader.files.is_empty() {
        return Err(DiffError {
            line: 1,
            message: "no file header found: a unified diff names each file in `diff --git a/… b/…` or `--- a/…` and `+++ b/…` lines".into(),
        });
    }
    Ok(reader.files)
}

/// The diff's lines with their numbers, from 1, read as they are needed.
type Lines<'a> =
    std::iter::Peekable<std::iter::Map<std::iter::Enumerate<std::str::Lines<'a>>, Numbered<'a>>>;
type Numbered<'a> = fn((usize, &'a str)) -> (usize, &'a str);

fn numbered((index, line): (usize, &str)) -> (usize, &str) {
    (index + 1, line)
}

struct Reader<'a> {
    lines: Lines<'a>,
    files: Vec<FileDiff<'a>>,
    current: Option<Pending<'a>>,
}

/// The file being read.
struct Pending<'a> {
    path: Option<String>,
    kind: FileKind,
    hunks: Vec<Hunk<'a>>,
    /// Whether its `---`/`+++` pair has been read.
    headed: bool,
    /// The first new-file line the next hunk may start at.
    next_free: u32,
    /// Where the file starts, for an error about it as a whole.
    line: usize,
}

impl Pending<'_> {
    fn new(line: usize, path: Option<String>) -> Self {
        Self {
            path,
            kind: FileKind::Text,
            hunks: Vec::new(),
            headed: false,
            next_free: 1,
            line,
        }
    }
}

impl<'a> Reader<'a> {
    fn read(&mut self) -> Result<(), DiffError> {
        while let Some((n, raw)) = self.lines.next() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if let Some(rest) = line.strip_prefix("diff --git ") {
                self.finish()?;
                self.current = Some(Pending::new(n, git_new_path(rest)));
            } else if line.starts_with("--- ")
                && self
                    .lines
                    .peek()
                    .is_some_and(|(_, next)| next.starts_with("+++ "))
            {
                let (_, next) = self.lines.next().unwrap_or((n + 1, ""));
                self.file_header(n, line, next.strip_suffix('\r').unwrap_or(next))?;
            } else if line.starts_with("+++ ") {
                return Err(error(n, "a `+++` line must follow a `---` line"));
            } else if line.starts_with("@@") {
                self.hunk(n, line)?;
            } else {
                self.other(n, line)?;
            }
        }
        self.finish()
    }

    fn file_header(&mut self, n: usize, old: &str, new: &str) -> Result<(), DiffError> {
        let reuse = self
            .current
            .as_ref()
            .is_some_and(|f| !f.headed && f.hunks.is_empty());
        if !reuse {
            self.finish()?;
            self.current = Some(Pending::new(n, None));
        }
        let old = header_path(&old[4..], "a/");
        let new = header_path(&new[4..], "b/");
        let file = self.current.get_or_insert_with(|| Pending::new(n, None));
        file.headed = true;
        match (old, new) {
            (Some(old), None) => {
                file.kind = FileKind::Deleted;
                file.path = Some(old);
            }
            (_, Some(new)) => file.path = Some(new),
            (None, None) => {
                return Err(error(n, "both sides of the file header are /dev/null"));
            }
        }
        Ok(())
    }

    fn hunk(&mut self, n: usize, header: &str) -> Result<(), DiffError> {
        let Some(file) = self.current.as_mut().filter(|f| f.headed) else {
            return Err(error(
                n,
                "a hunk (`@@ … @@`) must follow its file's `---` and `+++` lines",
            ));
        };
        let (old, new) = hunk_ranges(header).ok_or_else(|| {
            error(
                n,
                format!(
                    "`{}` is not a hunk header such as `@@ -12,7 +12,9 @@`",
                    clip(header)
                ),
            )
        })?;
        if new.count > 0 && new.start < file.next_free {
            return Err(error(
                n,
                "this hunk overlaps the previous one, or comes before it",
            ));
        }
        let (mut old_left, mut new_left) = (old.count, new.count);
        let mut number = new.start;
        let mut lines = Vec::new();
        while old_left > 0 || new_left > 0 {
            let Some((at, raw)) = self.lines.next() else {
                return Err(error(
                    n,
                    format!(
                        "the diff ends inside this hunk: {old_left} old and {new_left} new lines are missing"
                    ),
                ));
            };
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            // The marker is one ASCII byte when it is a marker at all; a
            // line starting with any other character is refused below.
            let marker = line.as_bytes().first().copied();
            let text = line.get(1..).unwrap_or_default();
            let (takes_old, takes_new) = match marker {
                // An empty line is an empty context line whose leading
                // space an editor stripped.
                Some(b' ') | None => (true, true),
                Some(b'+') => (false, true),
                Some(b'-') => (true, false),
                Some(b'\\') => continue,
                Some(_) => {
                    return Err(error(
                        at,
                        format!(
                            "`{}` is not a hunk line (one starting with ' ', '+' or '-'); the hunk at line {n} needs {old_left} old and {new_left} new lines more",
                            clip(line)
                        ),
                    ));
                }
            };
            if (takes_old && old_left == 0) || (takes_new && new_left == 0) {
                return Err(error(
                    at,
                    format!("the hunk at line {n} has more lines than its header says"),
                ));
            }
            old_left -= u32::from(takes_old);
            if takes_new {
                new_left -= 1;
                lines.push(NewLine {
                    number,
                    text,
                    added: marker == Some(b'+'),
                });
                number += 1;
            }
        }
        file.next_free = number.max(file.next_free);
        file.hunks.push(Hunk {
            header_line: n,
            lines,
        });
        Ok(())
    }

    /// A line outside any hunk: a git extended header, a separator, or
    /// (before the first file) a preamble.
    fn other(&mut self, n: usize, line: &str) -> Result<(), DiffError> {
        let Some(file) = self.current.as_mut() else {
            return Ok(());
        };
        if line.trim().is_empty() || line.starts_with('\\') || line.starts_with("Only in ") {
            return Ok(());
        }
        if line.starts_with("diff ") {
            // `diff -ru` writes its command line before each file.
            return self.finish();
        }
        if !file.headed && file.hunks.is_empty() {
            if line.starts_with("Binary files ") && line.ends_with(" differ") {
                file.kind = FileKind::Binary;
                return Ok(());
            }
            if line == "GIT binary patch" {
                file.kind = FileKind::Binary;
                // Its base85 blocks run until the next file.
                while self
                    .lines
                    .next_if(|(_, next)| !next.starts_with("diff --git "))
                    .is_some()
                {}
                return Ok(());
            }
            if line.starts_with("deleted file mode") {
                file.kind = FileKind::Deleted;
                return Ok(());
            }
            if let Some(to) = line
                .strip_prefix("rename to ")
                .or_else(|| line.strip_prefix("copy to "))
            {
                file.path = Some(unquote(to));
                return Ok(());
            }
            const IGNORED: &[&str] = &[
                "index ",
                "new file mode",
                "old mode",
                "new mode",
                "similarity index",
                "dissimilarity index",
                "rename from ",
                "copy from ",
            ];
            if IGNORED.iter().any(|prefix| line.starts_with(prefix)) {
                return Ok(());
            }
        }
        Err(error(
            n,
            format!(
                "`{}` is neither a hunk (`@@ … @@`) nor the next file's header",
                clip(line)
            ),
        ))
    }

    fn finish(&mut self) -> Result<(), DiffError> {
        let Some(file) = self.current.take() else {
            return Ok(());
        };
        let path = file.path.ok_or_else(|| {
            error(
                file.line,
                "cannot tell which file this part of the diff changes",
            )
        })?;
        self.files.push(FileDiff {
            path,
            kind: file.kind,
            hunks: file.hunks,
        });
        Ok(())
    }
}

fn error(line: usize, message: impl Into<String>) -> DiffError {
    DiffError {
        line,
        message: message.into(),
    }
}

/// At most 60 characters of `line`, for an error message.
fn clip(line: &str) -> String {
    const SHOWN: usize = 60;
    match line.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    }
}

#[derive(Debug, Clone, Copy)]
struct Range {
    start: u32,
    count: u32,
}

/// `@@ -a[,b] +c[,d] @@[ section]`.
fn hunk_ranges(header: &str) -> Option<(Range, Range)> {
    let rest = header.strip_prefix("@@ -")?;
    let (ranges, _section) = rest.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let range = |raw: &str| -> Option<Range> {
        let (start, count) = match raw.split_once(',') {
            Some((start, count)) => (start, count),
            None => (raw, "1"),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(start) || !digits(count) {
            return None;
        }
        let range = Range {
            start: start.parse().ok()?,
            count: count.parse().ok()?,
        };
        // The last line must still have a number.
        range.start.checked_add(range.count)?;
        Some(range)
    };
    let new = range(new)?;
    // An empty new side sits after line `start`; a non-empty one starts at it.
    if new.count > 0 && new.start == 0 {
        return None;
    }
    Some((range(old)?, new))
}

/// The path of a `---`/`+++` line's rest: before any tab (a timestamp),
/// unquoted, without `prefix`; `None` for /dev/null.
fn header_path(rest: &str, prefix: &str) -> Option<String> {
    let raw = rest.split('\t').next().unwrap_or(rest).trim_end();
    let path = unquote(raw);
    if path == "/dev/null" {
        return None;
    }
    Some(path.strip_prefix(prefix).map(str::to_owned).unwrap_or(path))
}

/// The new path of `diff --git a/P b/Q`, when it can be told apart; the
/// `+++` or `rename to` line that follows, if any, says it for certain.
fn git_new_path(rest: &str) -> Option<String> {
    if let Some(quoted) = rest.strip_suffix('"')
        && let Some(open) = quoted.rfind(" \"")
    {
        let new = unquote(&rest[open + 1..]);
        return Some(new.strip_prefix("b/").map(str::to_owned).unwrap_or(new));
    }
    // `a/P b/P`: the same path twice is split in the middle, whatever
    // spaces it holds.
    if rest.len() % 2 == 1 {
        let half = rest.len() / 2;
        if let (Some(old), Some(new)) = (rest.get(..half), rest.get(half + 1..))
            && old
                .strip_prefix("a/")
                .is_some_and(|o| Some(o) == new.strip_prefix("b/"))
        {
            return new.strip_prefix("b/").map(str::to_owned);
        }
    }
    rest.rsplit_once(" b/").map(|(_, new)| new.to_owned())
}

/// A path as git writes it: bare, or in double quotes with C escapes
/// (octal for bytes outside ASCII).
fn unquote(raw: &str) -> String {
    let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return raw.to_owned();
    };
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.bytes().peekable();
    while let Some(byte) = chars.next() {
        if byte != b'\\' {
            bytes.push(byte);
            continue;
        }
        match chars.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(digit @ b'0'..=b'7') => {
                let mut value = u32::from(digit - b'0');
                for _ in 0..2 {
                    if let Some(next) = chars.next_if(|b| (b'0'..=b'7').contains(b)) {
                        value = value * 8 + u32::from(next - b'0');
                    }
                }
                bytes.push(u8::try_from(value).unwrap_or(b'?'));
            }
            Some(other) => bytes.push(other),
            None => bytes.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TWO_FILES: &str = "\
diff --git a/app.py b/app.py
index 83db48f..bf269f4 100644
--- a/app.py
+++ b/app.py
@@ -1,4 +1,5 @@
 import os
-x = 1
+x = eval(input())
+y = 2
 print(x)
 done()
@@ -10,2 +11,3 @@ def main():
 a()
+b()
 c()
\\ No newline at end of file
diff --git a/logo.png b/logo.png
index 1111111..2222222 100644
Binary files a/logo.png and b/logo.png differ
";

    #[test]
    fn a_git_diff_reads_as_new_side_lines_numbered_as_in_the_new_file() {
        let files = parse(TWO_FILES, 10_000).unwrap();
        assert_eq!(files.len(), 2);
        let app = &files[0];
        assert_eq!((app.path.as_str(), app.kind), ("app.py", FileKind::Text));
        let numbered: Vec<(u32, bool)> = app
            .hunks
            .iter()
            .flat_map(|h| &h.lines)
            .map(|l| (l.number, l.added))
            .collect();
        assert_eq!(
            numbered,
            [
                (1, false),
                (2, true),
                (3, true),
                (4, false),
                (5, false),
                (11, false),
                (12, true),
                (13, false)
            ]
        );
        assert_eq!(app.added_lines(), 3);
        assert_eq!(files[1].path, "logo.png");
        assert_eq!(files[1].kind, FileKind::Binary);
    }

    #[test]
    fn an_excerpt_places_findings_on_added_lines_only() {
        let files = parse(TWO_FILES, 10_000).unwrap();
        let excerpt = files[0].excerpt();
        assert_eq!(
            excerpt.code,
            "import os\nx = eval(input())\ny = 2\nprint(x)\ndone()\na()\nb()\nc()\n"
        );
        assert_eq!(excerpt.place(2, 2), Some((2, 2)));
        assert_eq!(excerpt.place(7, 8), Some((12, 13)));
        // Context alone is not what the change did.
        assert_eq!(excerpt.place(1, 1), None);
        assert_eq!(excerpt.place(8, 8), None);
        assert_eq!(excerpt.place(9, 9), None);
        assert_eq!(excerpt.place(0, 1), None);
    }

    #[test]
    fn new_deleted_renamed_and_plain_files_are_told_apart() {
        let diff = "\
diff --git a/new.rs b/new.rs
new file mode 100644
--- /dev/null
+++ b/new.rs
@@ -0,0 +1,2 @@
+fn main() {}
+// TODO
diff --git a/gone.rs b/gone.rs
deleted file mode 100644
--- a/gone.rs
+++ /dev/null
@@ -1 +0,0 @@
-fn gone() {}
diff --git a/old name.go b/new name.go
similarity index 90%
rename from old name.go
rename to new name.go
diff --git \"a/caf\\303\\251.py\" \"b/caf\\303\\251.py\"
--- \"a/caf\\303\\251.py\"
+++ \"b/caf\\303\\251.py\"
@@ -1 +1 @@
-a
+b
--- plain.c\t2026-12-01 10:00:00
+++ plain.c\t2026-12-02 10:00:00
@@ -3 +3 @@
-x
+y
";
        let files = parse(diff, 10_000).unwrap();
        let summary: Vec<(&str, FileKind, usize)> = files
            .iter()
            .map(|f| (f.path.as_str(), f.kind, f.added_lines()))
            .collect();
        assert_eq!(
            summary,
            [
                ("new.rs", FileKind::Text, 2),
                ("gone.rs", FileKind::Deleted, 0),
                ("new name.go", FileKind::Text, 0),
                ("café.py", FileKind::Text, 1),
                ("plain.c", FileKind::Text, 1),
            ]
        );
        assert_eq!(files[4].hunks[0].lines[0].number, 3);
    }

    #[test]
    fn a_git_binary_patch_is_skipped_whole() {
        let diff = "\
diff --git a/a.bin b/a.bin
index 0000000..1111111
GIT binary patch
literal 4
LcmZQzWMT#Y01f~L

literal 0
HcmV?d00001

diff --git a/b.py b/b.py
--- a/b.py
+++ b/b.py
@@ -1 +1 @@
-a
+b
";
        let files = parse(diff, 10_000).unwrap();
        assert_eq!(files[0].kind, FileKind::Binary);
        assert_eq!(files[1].path, "b.py");
        assert_eq!(files[1].added_lines(), 1);
    }

    #[test]
    fn what_does_not_parse_is_named_by_its_line() {
        let cases = [
            ("hello\nworld\n", 1, "no file header"),
            ("+++ b/x\n", 1, "must follow a `---`"),
            ("@@ -1 +1 @@\n+a\n", 1, "must follow its file"),
            ("--- a/x\n+++ b/x\n@@ -1 +x @@\n", 3, "not a hunk header"),
            (
                "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n?b\n",
                5,
                "not a hunk line",
            ),
            (
                "--- a/x\n+++ b/x\n@@ -1 +1 @@\n+a\n+b\n",
                5,
                "more lines than",
            ),
            ("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n", 3, "ends inside"),
            (
                "--- a/x\n+++ b/x\n@@ -5,0 +5 @@\n+a\n@@ -1,0 +1 @@\n+b\n",
                5,
                "overlaps",
            ),
            (
                "--- a/x\n+++ b/x\n@@ -0,0 +1 @@\n+a\nstray\n",
                5,
                "neither a hunk",
            ),
            ("diff --git a/x b/x\nwhat is this\n", 2, "neither a hunk"),
        ];
        for (diff, line, says) in cases {
            let error = parse(diff, 10_000).unwrap_err();
            assert_eq!(error.line, line, "{diff:?}: {error}");
            assert!(error.message.contains(says), "{diff:?}: {error}");
        }
    }

    /// One generated file change: hunks of edits with unchanged lines
    /// between them.
    #[derive(Debug, Clone)]
    struct Change {
        path: String,
        /// (unchanged lines before the hunk, the hunk's edits)
        hunks: Vec<(u32, Vec<Edit>)>,
    }

    #[derive(Debug, Clone, Copy)]
    enum Edit {
        Keep,
        Add,
        Remove,
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![Just(Edit::Keep), Just(Edit::Add), Just(Edit::Remove)]
    }

    fn change() -> impl Strategy<Value = Change> {
        (
            "[a-z]{1,8}(/[a-z]{1,8})?\\.(py|rs)",
            prop::collection::vec((0u32..5, prop::collection::vec(edit(), 1..8)), 1..4),
        )
            .prop_map(|(path, hunks)| Change { path, hunks })
    }

    /// The diff of `changes`, and per file the (new number, added) of each
    /// line its hunks show.
    fn render(changes: &[Change]) -> (String, Vec<Vec<(u32, bool)>>) {
        let mut diff = String::new();
        let mut expected = Vec::new();
        for (f, change) in changes.iter().enumerate() {
            diff.push_str(&format!(
                "diff --git a/{0} b/{0}\nindex 1..2 100644\n--- a/{0}\n+++ b/{0}\n",
                change.path
            ));
            let (mut old_no, mut new_no) = (1u32, 1u32);
            let mut shown = Vec::new();
            for (gap, edits) in &change.hunks {
                // A gap of 0 after a hunk would merge it with the last one.
                let gap = if shown.is_empty() { *gap } else { gap + 1 };
                old_no += gap;
                new_no += gap;
                let old_count = edits.iter().filter(|e| !matches!(e, Edit::Add)).count();
                let new_count = edits.iter().filter(|e| !matches!(e, Edit::Remove)).count();
                let start = |no: u32, count: usize| if count == 0 { no - 1 } else { no };
                diff.push_str(&format!(
                    "@@ -{},{old_count} +{},{new_count} @@\n",
                    start(old_no, old_count),
                    start(new_no, new_count)
                ));
                for (i, edit) in edits.iter().enumerate() {
                    match edit {
                        Edit::Keep => {
                            diff.push_str(&format!(" keep {f} {i}\n"));
                            shown.push((new_no, false));
                            old_no += 1;
                            new_no += 1;
                        }
                        Edit::Add => {
                            diff.push_str(&format!("+-- added {f} {i}\n"));
                            shown.push((new_no, true));
                            new_no += 1;
                        }
                        Edit::Remove => {
                            diff.push_str(&format!("--- removed {f} {i}\n"));
                            old_no += 1;
                        }
                    }
                }
            }
            expected.push(shown);
        }
        (diff, expected)
    }

    #[test]
    fn a_hunk_line_starting_with_a_multibyte_character_is_named_not_a_panic() {
        let diff = "--- a/x.py\n+++ b/x.py\n@@ -1,1 +1,1 @@\n\u{e9}t\u{e9}\n";
        let error = parse(diff, 10_000).unwrap_err();
        assert_eq!(error.line, 4);
        assert!(error.message.contains("is not a hunk line"), "{error}");
    }

    #[test]
    fn a_diff_past_its_line_limit_is_refused_before_it_is_read() {
        let diff = format!(
            "--- a/x.py\n+++ b/x.py\n@@ -1,5000 +1,5000 @@\n{}",
            "\n".repeat(5000)
        );
        let error = parse(&diff, 1000).unwrap_err();
        assert!(error.message.contains("at most 1000 are read"), "{error}");
        assert_eq!(parse(&diff, 10_000).unwrap()[0].added_lines(), 0);
    }

    proptest! {
        // The diff parser reads whatever any end user sends: a bounded
        // fuzz of damaged diffs, any Unicode in any line, runs with the
        // tests (`PROPTEST_CASES` raises it for a longer hunt).
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        #[test]
        fn any_line_anywhere_in_a_diff_parses_or_is_named(
            changes in prop::collection::vec(change(), 1..3),
            cut in any::<prop::sample::Index>(),
            junk in prop::collection::vec(any::<char>(), 0..8),
            replace in any::<bool>(),
        ) {
            let (diff, _) = render(&changes);
            let lines: Vec<&str> = diff.lines().collect();
            let at = cut.index(lines.len());
            let junk: String = junk.into_iter().collect();
            let rest = if replace { at + 1 } else { at };
            let damaged = [&lines[..at], &[junk.as_str()], &lines[rest..]].concat().join("\n");
            if let Err(error) = parse(&damaged, 10_000) {
                prop_assert!(error.line >= 1 && error.line <= damaged.lines().count().max(1));
            }
        }
    }

    proptest! {
        #[test]
        fn a_rendered_diff_reads_back_line_for_line(
            changes in prop::collection::vec(change(), 1..4)
        ) {
            let (diff, expected) = render(&changes);
            let files = parse(&diff, 10_000).map_err(|e| TestCaseError::fail(format!("{e}\n{diff}")))?;
            prop_assert_eq!(files.len(), changes.len());
            for ((file, change), shown) in files.iter().zip(&changes).zip(&expected) {
                prop_assert_eq!(&file.path, &change.path);
                let lines: Vec<(u32, bool)> = file
                    .hunks
                    .iter()
                    .flat_map(|h| &h.lines)
                    .map(|l| (l.number, l.added))
                    .collect();
                prop_assert_eq!(&lines, shown);
                // Every added line of the excerpt places onto itself.
                let excerpt = file.excerpt();
                for (i, &(number, added)) in lines.iter().enumerate() {
                    let at = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    let placed = excerpt.place(at, at);
                    prop_assert_eq!(placed, added.then_some((number, number)));
                }
            }
        }

        #[test]
        fn any_text_parses_or_names_a_line_of_it(text in "(\\PC{0,12}\n){0,12}") {
            if let Err(error) = parse(&text, 10_000) {
                prop_assert!(error.line >= 1 && error.line <= text.lines().count().max(1));
            }
        }

        #[test]
        fn a_damaged_diff_parses_or_names_a_line_of_it(
            changes in prop::collection::vec(change(), 1..3),
            cut in any::<prop::sample::Index>(),
            junk in "[ +\\-@\\\\a-z]{0,6}",
        ) {
            let (diff, _) = render(&changes);
            let lines: Vec<&str> = diff.lines().collect();
            let at = cut.index(lines.len());
            let damaged = [&lines[..at], &[junk.as_str()], &lines[at + 1..]].concat().join("\n");
            if let Err(error) = parse(&damaged, 10_000) {
                prop_assert!(error.line >= 1 && error.line <= lines.len());
            }
        }
    }
}
