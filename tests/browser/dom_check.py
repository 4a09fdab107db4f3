#!/usr/bin/env python3
"""Checks a DOM serialised by Chromium (--dump-dom) against expectations.

Usage: dom_check.py DOM_FILE CHECK...
  text=TEXT       the page's text (tags removed, entities decoded, text nodes joined by a
                  space, runs of white space as one space) contains TEXT
  absent=TEXT     the serialised DOM does not contain TEXT (e.g. an unescaped "<script")
  selector=SEL    at least one element matches SEL
  count=SEL=N     exactly N elements match SEL
SEL: compound selectors (tag, #id, .class, [attr], [attr=value], [attr="value"]) separated by
spaces (descendant). Prints one line per failed check; exit 0 if all pass, 1 otherwise.
Standard library only (python3 from scripts/setup).
"""
import html.parser
import re
import sys

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []


class TreeBuilder(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root
        self.nodes = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, self.current)
        self.current.children.append(node)
        self.nodes.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.current = self.current.parent

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.text.append(data)


COMPOUND = re.compile(r'([a-zA-Z][\w-]*|\*)?((?:#[\w-]+|\.[\w-]+|\[[\w-]+(?:=(?:"[^"]*"|[^\]]*))?\])*)$')
PART = re.compile(r'#([\w-]+)|\.([\w-]+)|\[([\w-]+)(?:=(?:"([^"]*)"|([^\]]*)))?\]')


def parse_compound(text):
    m = COMPOUND.match(text)
    if not m or not text:
        raise ValueError("unsupported selector part: " + text)
    tests = []
    if m.group(1) and m.group(1) != "*":
        tag = m.group(1).lower()
        tests.append(lambda n: n.tag == tag)
    for p in PART.finditer(m.group(2)):
        if p.group(1):
            tests.append(lambda n, v=p.group(1): n.attrs.get("id") == v)
        elif p.group(2):
            tests.append(lambda n, v=p.group(2): v in n.attrs.get("class", "").split())
        elif p.group(4) is not None or p.group(5) is not None:
            value = p.group(4) if p.group(4) is not None else p.group(5)
            tests.append(lambda n, k=p.group(3).lower(), v=value: n.attrs.get(k) == v)
        else:
            tests.append(lambda n, k=p.group(3).lower(): k in n.attrs)
    return lambda n: all(t(n) for t in tests)


def split_selector(selector):
    parts, current, quoted = [], "", False
    for ch in selector.strip():
        if ch == '"':
            quoted = not quoted
        if ch.isspace() and not quoted:
            if current:
                parts.append(current)
            current = ""
        else:
            current += ch
    if current:
        parts.append(current)
    return parts


def select(nodes, selector):
    compounds = [parse_compound(p) for p in split_selector(selector)]
    if not compounds:
        raise ValueError("empty selector")

    def matches(node, k):
        if not compounds[k](node):
            return False
        if k == 0:
            return True
        ancestor = node.parent
        while ancestor is not None:
            if matches(ancestor, k - 1):
                return True
            ancestor = ancestor.parent
        return False

    return [n for n in nodes if matches(n, len(compounds) - 1)]


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8", errors="replace") as f:
        dom = f.read()
    builder = TreeBuilder()
    builder.feed(dom)
    builder.close()
    text = re.sub(r"\s+", " ", " ".join(builder.text))  # text nodes apart, like cells
    failures = 0
    for check in argv[2:]:
        kind, _, arg = check.partition("=")
        try:
            if kind == "text":
                ok, what = arg in text, "page text contains " + repr(arg)
            elif kind == "absent":
                ok, what = arg not in dom, "DOM does not contain " + repr(arg)
            elif kind == "selector":
                ok, what = bool(select(builder.nodes, arg)), "an element matches " + repr(arg)
            elif kind == "count":
                selector, _, n = arg.rpartition("=")
                found = len(select(builder.nodes, selector))
                ok = found == int(n)
                what = "%s elements match %r (found %d)" % (n, selector, found)
            else:
                raise ValueError("unknown check " + repr(check))
        except ValueError as e:
            print("check_page: bad check %r: %s" % (check, e), file=sys.stderr)
            return 2
        print(("ok:   " if ok else "FAIL: ") + what)
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
