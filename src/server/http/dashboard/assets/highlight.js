// A small syntax highlighter for the diff view: keywords, strings,
// comments and numbers of the languages Suture's fixtures use (Python,
// Rust, JavaScript/TypeScript, Go, Java). Line by line (a diff shows
// lines), so a string or block comment spanning lines is coloured on its
// first line only; good enough to read a fix, and 80 lines instead of a
// vendored highlighter.

const KEYWORDS = {
  python: "and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return self True try while with yield",
  rust: "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while Some None Ok Err",
  js: "async await break case catch class const continue debugger default delete do else export extends false finally for from function if import in instanceof interface let new null of return static super switch this throw true try type typeof undefined var void while yield",
  go: "break case chan const continue default defer else fallthrough false for func go goto if import interface map nil package range return select struct switch true type var",
  java: "abstract boolean break byte case catch char class continue default do double else enum extends false final finally float for if implements import instanceof int interface long new null package private protected public return short static super switch this throw throws true try void while",
};

const COMMENT = { python: "#", rust: "//", js: "//", go: "//", java: "//" };

const sets = Object.fromEntries(Object.entries(KEYWORDS).map(([k, v]) => [k, new Set(v.split(" "))]));

/// The language of a path, or null (shown plain).
export function languageOf(path) {
  const ext = (path.split(".").pop() || "").toLowerCase();
  return { py: "python", rs: "rust", js: "js", mjs: "js", cjs: "js", ts: "js", tsx: "js", jsx: "js", go: "go", java: "java", kt: "java" }[ext] || null;
}

/// Tokens of one line: [{text, kind}] with kind one of kw, str, com, num
/// or "" (plain). Their texts concatenate to `line`.
export function tokenize(line, language) {
  if (!language) return [{ text: line, kind: "" }];
  const keywords = sets[language];
  const comment = COMMENT[language];
  const out = [];
  const push = (text, kind) => {
    if (!text) return;
    const last = out[out.length - 1];
    if (last && last.kind === kind) last.text += text;
    else out.push({ text, kind });
  };
  let i = 0;
  while (i < line.length) {
    const rest = line.slice(i);
    if (rest.startsWith(comment) || (language !== "python" && rest.startsWith("/*"))) {
      const end = rest.startsWith("/*") ? rest.indexOf("*/", 2) : -1;
      const text = end >= 0 ? rest.slice(0, end + 2) : rest;
      push(text, "com");
      i += text.length;
      continue;
    }
    const ch = line[i];
    if (ch === '"' || ch === "'" || ch === "`") {
      if (language === "rust" && ch === "'" && /^'[a-zA-Z_]+[^'a-zA-Z_]/.test(rest)) {
        push(ch, ""); // a lifetime, not a char literal
        i += 1;
        continue;
      }
      let j = i + 1;
      while (j < line.length && line[j] !== ch) j += line[j] === "\\" ? 2 : 1;
      const text = line.slice(i, Math.min(j + 1, line.length));
      push(text, "str");
      i += text.length;
      continue;
    }
    const num = /^(0x[0-9a-fA-F_]+|\d[\d_]*(\.\d+)?([eE][+-]?\d+)?)/.exec(rest);
    if (num && !/[A-Za-z_]/.test(line[i - 1] || "")) {
      push(num[0], "num");
      i += num[0].length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (word) {
      push(word[0], keywords.has(word[0]) ? "kw" : "");
      i += word[0].length;
      continue;
    }
    push(ch, "");
    i += 1;
  }
  return out;
}
