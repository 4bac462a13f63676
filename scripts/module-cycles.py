#!/usr/bin/env python3
"""Finds import circles between the modules of each crate of the workspace.

For every crate (the workspace members of the root `Cargo.toml`: `core/src`, `genai/src`,
`mlx/src`, `src`, `handlers/*/src`), this builds the graph "module -> modules it refers to" from
the explicit paths of its source: `use crate::x::…`, `crate::x::y` in code, and `super::…` /
`self::…` resolved against the module they are written in. A path is resolved to the module that
defines the item, following `pub use` re-exports (so `crate::Bus` counts as a reference to
`bus`, not to the crate root). A module is a file (`a.rs`, `a/mod.rs`, `a/b.rs`); inline
`mod x { … }` blocks belong to their file. Comments (doc comments too), string literals, `$crate`
paths of macros, `pub(in …)` visibilities and every item marked `#[cfg(test)]` (the
`mod tests { … }` blocks, test-only `mod x;` files) are ignored. Bare relative paths (`use
child::Item` in a parent) are not counted: only the explicit paths above.

Every strongly connected component of more than one module is printed, with one reference
(file:line) for each edge inside it, and the script exits 1 if there is any; 0 otherwise.

Usage: python3 scripts/module-cycles.py [workspace-root]     (Python 3 standard library only)
"""

from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass, field

DEFAULT_CRATE_DIRS = ["core", "genai", "mlx", ".", "handlers/*"]
ITEM_KEYWORDS = {"fn", "struct", "enum", "trait", "type", "const", "static", "union", "mod"}
PATH_HEADS = {"crate", "super", "self"}

Path = tuple[str, ...]


# --- reading the workspace -----------------------------------------------------------------------


def crate_dirs(root: str) -> list[str]:
    """The crate directories of the workspace (members of the root Cargo.toml when readable)."""
    patterns = DEFAULT_CRATE_DIRS
    try:
        import tomllib  # Python 3.11+

        with open(os.path.join(root, "Cargo.toml"), "rb") as f:
            members = tomllib.load(f).get("workspace", {}).get("members")
        if members:
            patterns = members
    except (ImportError, OSError, ValueError):
        pass
    dirs: list[str] = []
    for pattern in patterns:
        for d in sorted(glob.glob(os.path.join(root, pattern))):
            d = os.path.normpath(d)
            if os.path.isdir(os.path.join(d, "src")) and d not in dirs:
                dirs.append(d)
    return dirs


def module_path(src_dir: str, file: str) -> Path | None:
    """`a/b.rs` -> ("a", "b"); `a/mod.rs` -> ("a",); `lib.rs` / `main.rs` -> (); None for bins."""
    rel = os.path.relpath(file, src_dir)
    parts = rel[: -len(".rs")].split(os.sep)
    if parts[0] == "bin":
        return None
    if parts == ["lib"] or parts == ["main"]:
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


# --- lexing --------------------------------------------------------------------------------------


RAW_STRING = re.compile(r'b?r(#*)"')
CHAR = re.compile(r"'(\\.[^']*|[^\\'\n])'")


def strip(text: str) -> str:
    """`text` with comments, strings and char literals blanked (newlines kept, for line numbers)."""
    out: list[str] = []
    i, n = 0, len(text)

    def blank(s: str) -> str:
        return "".join("\n" if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif (m := RAW_STRING.match(text, i)) and not _ident_before(text, i):
            end = text.find('"' + m.group(1), m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            out.append(blank(text[i:j]))
            i = j
        elif c == '"' or (c == "b" and text.startswith('b"', i) and not _ident_before(text, i)):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i : j + 1]))
            i = j + 1
        elif c == "'" and (m := CHAR.match(text, i)):
            # A char literal ('a', '\n', '\u{1F600}'); a lifetime ('a) has no closing quote.
            out.append(blank(m.group(0)))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _ident_before(text: str, i: int) -> bool:
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


TOKEN = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*|::|\S")


def tokens(code: str) -> list[tuple[str, int]]:
    """(token, line) pairs: identifiers (with a leading `$` for macro variables), `::`, symbols."""
    result = []
    line = 1
    last = 0
    for m in TOKEN.finditer(code):
        line += code.count("\n", last, m.start())
        last = m.start()
        result.append((m.group(0), line))
    return result


# --- parsing one file ----------------------------------------------------------------------------


@dataclass
class UseItem:
    """One leaf of a `use` tree: the path as written, the name it binds (None for a glob)."""

    path: list[str]
    name: str | None
    public: bool
    line: int


@dataclass
class FileInfo:
    module: Path
    file: str
    uses: list[UseItem] = field(default_factory=list)
    # Explicit paths in code (not in `use`): segments as written, inline-module prefix, line.
    refs: list[tuple[list[str], Path, int]] = field(default_factory=list)
    use_scopes: list[Path] = field(default_factory=list)  # inline-module prefix of each use
    defined: set[str] = field(default_factory=set)
    test_children: set[str] = field(default_factory=set)


def is_test_cfg(attribute: list[str]) -> bool:
    text = "".join(attribute)
    return text == "cfg(test)" or text.startswith("cfg(all(test,")


def parse_use_tree(toks: list[str], i: int, prefix: list[str], out: list[tuple[list[str], str | None]]) -> int:
    """Parses a use tree starting at toks[i]; appends (path, bound name) leaves; returns the index
    after the tree (at `,`, `}` or `;`)."""
    path = list(prefix)
    while i < len(toks):
        t = toks[i]
        if t == "{":
            i += 1
            while i < len(toks) and toks[i] != "}":
                i = parse_use_tree(toks, i, path, out)
                if i < len(toks) and toks[i] == ",":
                    i += 1
            return i + 1
        if t == "*":
            out.append((path, None))
            return i + 1
        if t == "::":
            i += 1
            continue
        if t in {",", "}", ";"}:
            if path != prefix:
                out.append((path, path[-1]))
            return i
        if t == "as":
            alias = toks[i + 1] if i + 1 < len(toks) else "_"
            out.append((path, None if alias == "_" else alias))
            return i + 2
        path = path + [t]
        i += 1
    if path != prefix:
        out.append((path, path[-1]))
    return i


def parse_file(module: Path, file: str) -> FileInfo:
    with open(file, encoding="utf-8") as f:
        toks = tokens(strip(f.read()))
    info = FileInfo(module, file)
    words = [t for t, _ in toks]
    n = len(words)
    inline: list[tuple[str, int]] = []  # (inline module name, brace depth of its body)
    depth = 0
    skip_next_item = False
    i = 0

    def scope() -> Path:
        return tuple(name for name, _ in inline)

    while i < n:
        t, line = toks[i]
        # Attributes: `#[…]` / `#![…]`.
        if t == "#" and i + 1 < n and words[i + 1] in {"[", "!"}:
            j = i + 1 + (words[i + 1] == "!")
            start, level = j, 0
            while j < n:
                level += {"[": 1, "]": -1}.get(words[j], 0)
                j += 1
                if level == 0:
                    break
            if words[i + 1] == "[" and is_test_cfg(words[start + 1 : j - 1]):
                skip_next_item = True
            i = j
            continue
        if skip_next_item:
            # Skip the item: to its `;`, or over its first `{…}` block. A test-only `mod x;`
            # marks the file x as test-only.
            skip_next_item = False
            if t == "mod" or (t == "pub" and "mod" in words[i : i + 6]):
                k = words.index("mod", i)
                if k + 2 < n and words[k + 2] == ";":
                    info.test_children.add(words[k + 1])
            j = i
            while j < n and words[j] not in {";", "{"}:
                j += 1
            if j < n and words[j] == "{":
                level = 0
                while j < n:
                    level += {"{": 1, "}": -1}.get(words[j], 0)
                    j += 1
                    if level == 0:
                        break
            else:
                j += 1
            i = j
            continue
        if t == "{":
            depth += 1
        elif t == "}":
            if inline and inline[-1][1] == depth:
                inline.pop()
            depth -= 1
        elif t in ITEM_KEYWORDS and i + 1 < n and re.fullmatch(r"[A-Za-z_]\w*", words[i + 1]):
            if not inline:
                info.defined.add(words[i + 1])
            if t == "mod" and i + 2 < n and words[i + 2] == "{":
                inline.append((words[i + 1], depth + 1))
        elif t == "macro_rules" and i + 2 < n and words[i + 1] == "!":
            info.defined.add(words[i + 2])
        elif t == "use" and (i == 0 or words[i - 1] != "::"):
            public = words[i - 1] == "pub" or (
                words[i - 1] == ")" and "pub" in words[max(0, i - 6) : i]
            )
            leaves: list[tuple[list[str], str | None]] = []
            j = i + 1
            if j < n and words[j] == "::":
                j += 1
            end = j
            while end < n and words[end] != ";":
                end += 1
            parse_use_tree(words[j:end] + [";"], 0, [], leaves)
            for path, name in leaves:
                info.uses.append(UseItem(path, name, public, line))
                info.use_scopes.append(scope())
            i = end + 1
            continue
        elif t in PATH_HEADS and i + 1 < n and words[i + 1] == "::":
            previous = words[i - 1] if i else ""
            if previous not in {"::", "in"}:
                path = [t]
                j = i + 1
                while j + 1 < n and words[j] == "::" and re.fullmatch(r"[A-Za-z_]\w*", words[j + 1]):
                    path.append(words[j + 1])
                    j += 2
                info.refs.append((path, scope(), line))
                i = j
                continue
        i += 1
    return info


# --- resolving -----------------------------------------------------------------------------------


class Crate:
    def __init__(self, directory: str):
        self.directory = directory
        self.name = os.path.relpath(directory) if directory != "." else "."
        src = os.path.join(directory, "src")
        self.files: dict[Path, FileInfo] = {}
        for file in sorted(glob.glob(os.path.join(src, "**", "*.rs"), recursive=True)):
            module = module_path(src, file)
            if module is not None:
                self.files[module] = parse_file(module, file)
        # Drop test-only files (declared `#[cfg(test)] mod x;`) and everything below them.
        test_only = {m + (child,) for m, info in self.files.items() for child in info.test_children}
        self.files = {
            m: info
            for m, info in self.files.items()
            if not any(m[: len(t)] == t for t in test_only)
        }
        # Re-exports and globs by module: name -> absolute path of the item.
        self.reexports: dict[Path, dict[str, list[str]]] = {m: {} for m in self.files}
        self.globs: dict[Path, list[list[str]]] = {m: [] for m in self.files}
        for m, info in self.files.items():
            for use, use_scope in zip(info.uses, info.use_scopes):
                if not use.public or use_scope:
                    continue
                absolute = self.absolute(use.path, m, (), relative_children=True)
                if absolute is None:
                    continue
                if use.name is None:
                    if use.path and use.path[-1] != "self":
                        self.globs[m].append(absolute)
                else:
                    self.reexports[m][use.name] = absolute

    def absolute(self, path: list[str], module: Path, inline: Path, relative_children: bool) -> list[str] | None:
        """`path` as written in `module` (inside inline modules `inline`) from the crate root;
        None for a path outside the crate (or bare, unless `relative_children` and it names a
        child module)."""
        if not path:
            return None
        here = list(module + inline)
        head, rest = path[0], path[1:]
        if head == "crate":
            result = rest
        elif head in {"super", "self"}:
            i = 0
            while i < len(path) and path[i] in {"super", "self"}:
                if path[i] == "super":
                    if not here:
                        return None
                    here.pop()
                i += 1
            result = here + path[i:]
        elif relative_children and module + (head,) in self.files:
            result = list(module) + path
        else:
            return None
        # `use a::b::{self}` binds `b`.
        return [s for s in result if s != "self"]

    def target(self, absolute: list[str], seen: int = 0) -> Path | None:
        """The module that defines the item at `absolute` (following re-exports)."""
        current: Path = ()
        for i, name in enumerate(absolute):
            if current + (name,) in self.files:
                current = current + (name,)
                continue
            if seen < 32 and name in self.reexports.get(current, {}):
                return self.target(self.reexports[current][name] + absolute[i + 1 :], seen + 1)
            if seen < 32 and current in self.files and name not in self.files[current].defined:
                for glob_path in self.globs.get(current, []):
                    source = self.target(glob_path, seen + 1)
                    if source is not None and self.provides(source, name, seen + 1):
                        return self.target(list(source) + absolute[i:], seen + 1)
            return current
        return current

    def provides(self, module: Path, name: str, seen: int) -> bool:
        """Whether `module::name` names something: defined there, re-exported or glob-imported."""
        if module not in self.files or seen >= 32:
            return False
        if name in self.files[module].defined or name in self.reexports[module]:
            return True
        for glob_path in self.globs[module]:
            source = self.target(glob_path, seen + 1)
            if source is not None and self.provides(source, name, seen + 1):
                return True
        return False

    def edges(self) -> dict[Path, dict[Path, tuple[str, int]]]:
        """module -> {module it refers to: (file, line) of the first reference}."""
        graph: dict[Path, dict[Path, tuple[str, int]]] = {m: {} for m in self.files}
        for m, info in self.files.items():
            written = [(u.path, s, u.line) for u, s in zip(info.uses, info.use_scopes)] + info.refs
            for path, inline, line in written:
                if not path or path[0] not in PATH_HEADS:
                    continue
                absolute = self.absolute(path, m, inline, relative_children=False)
                if absolute is None:
                    continue
                to = self.target(absolute)
                if to is not None and to != m and to in self.files:
                    graph[m].setdefault(to, (os.path.relpath(info.file), line))
        return graph


def strongly_connected(graph: dict[Path, dict[Path, tuple[str, int]]]) -> list[list[Path]]:
    """Tarjan's algorithm, iterative."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    on_stack: set[Path] = set()
    stack: list[Path] = []
    components: list[list[Path]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def name(module: Path) -> str:
    return "::".join(module) if module else "crate"


def main() -> int:
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    root = os.path.normpath(root)
    os.chdir(root)
    found = 0
    crates = crate_dirs(".")
    for directory in crates:
        crate = Crate(directory)
        graph = crate.edges()
        for component in strongly_connected(graph):
            if len(component) < 2:
                continue
            found += 1
            members = set(component)
            print(f"{crate.name}: circle of {len(component)} modules: {', '.join(name(m) for m in component)}")
            for m in component:
                for to, (file, line) in sorted(graph[m].items()):
                    if to in members:
                        print(f"    {name(m)} -> {name(to)}    ({file}:{line})")
    if found:
        print(f"{found} import circle(s) between modules; break each by moving what both sides share "
              "to the module that owns it or to a small module of its own.")
        return 1
    print(f"no import circles between the modules of {len(crates)} crates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
