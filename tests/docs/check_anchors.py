#!/usr/bin/env python3
"""Every `docs/<file>.md#<anchor>` cited anywhere in the repository names a heading that exists.

Usage: check_anchors.py REPOSITORY_ROOT. Anchors are made from headings as GitHub makes them:
lower case, punctuation dropped, spaces to '-'. Prints the citations that point nowhere and exits 1
when there are any.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
docs = root / "docs"


def anchors(md: pathlib.Path) -> set:
    out = set()
    seen = {}
    in_code = False
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        m = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        text = re.sub(r"`", "", m.group(1)).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


known = {p.name: anchors(p) for p in docs.glob("*.md")}
cite = re.compile(r"docs/([\w\-]+\.md)#([\w\-]+)")
bad = []
count = 0
for path in root.rglob("*"):
    if not path.is_file() or any(part in {".git", "build"} for part in path.relative_to(root).parts):
        continue
    if path.suffix not in {".hpp", ".cpp", ".h", ".md", ".cmake", ".txt", ".sh", ".py", ".json"}:
        continue
    text = path.read_text(encoding="utf-8", errors="replace")
    for m in cite.finditer(text):
        count += 1
        name, anchor = m.group(1), m.group(2)
        if name not in known:
            bad.append(f"{path.relative_to(root)}: docs/{name} does not exist")
        elif anchor not in known[name]:
            bad.append(f"{path.relative_to(root)}: docs/{name}#{anchor} is no heading of it")
# Links inside docs/ written as (file.md#anchor) too.
for md in docs.glob("*.md"):
    for m in re.finditer(r"\]\(([\w\-]+\.md)?#([\w\-]+)\)", md.read_text(encoding="utf-8")):
        count += 1
        name = m.group(1) or md.name
        if name not in known or m.group(2) not in known[name]:
            bad.append(f"docs/{md.name}: link to {name}#{m.group(2)} points nowhere")
for line in sorted(set(bad)):
    print(line)
print(f"{count} citations of docs/ checked, {len(set(bad))} point nowhere")
sys.exit(1 if bad else 0)
