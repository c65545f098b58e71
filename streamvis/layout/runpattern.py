"""`?runs=` patterns: a subset of Python regular expressions matched in linear time.

A page address is unauthenticated input, and Python's `re` backtracks: `(a+)+$` against a
long run name takes exponential time, stalling the server for everyone. So `?runs=` is
compiled here into a Thompson NFA (a graph of states) and matched by walking every
possible path at once, one character at a time: the work per character is bounded by the
number of states, so matching a name costs at most len(name) x states steps, whatever the
pattern. The state sets reached are cached (a lazily built DFA), so after a few names each
character is one dictionary lookup.

Supported, with Python's meaning (the whole run name must match, as `re.fullmatch`):
literal characters, `.`, classes `[a-z0-9_]` / `[^...]`, `\\d \\w \\s` (and `\\D \\W \\S`),
escaped punctuation (`\\.`), groups `( )` and `(?: )`, alternation `|`, the quantifiers
`* + ?` (lazy `*? +? ??` match the same names) and `{m}`, `{m,}`, `{m,n}` (up to 100), and
the anchors `^ $`. `search_group` finds the leftmost match in a name, as `re.search`
does, with the same match and first capture group (a Pike VM: the NFA's paths walked in
Python's priority order, each carrying where the group started and ended; still linear).
Refused with a message: backreferences, lookaround and other `(?...)`
groups, possessive quantifiers, other escapes, and patterns longer than the limit
(STREAMVIS_MAX_RUNS_PATTERN, default 200 characters) or compiling to too many states.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from streamvis.layout import limits

MAX_REPEAT = 100  # the largest m or n in {m,n}
MAX_STATES = 5_000  # NFA states a pattern may compile to ({m,n} copies its atom)
MAX_CACHED = 2_000  # DFA transitions kept (per pattern) before the cache starts over
META = set(".[]()|*+?{}\\^$")
CLASS_ESCAPES: dict[str, Callable[[str], bool]] = {
    "d": str.isdecimal,
    "w": lambda c: c.isalnum() or c == "_",
    "s": str.isspace,
}


Node = tuple[Any, ...]  # ("cat", [...]), ("alt", [...]), ("char", test), ("empty",), ...
FIRST_GROUP = 1  # the capture group `search_group` reports


class PatternError(ValueError):
    """A `?runs=` pattern that is not valid, or not in the supported subset."""


# ---------------------------------------------------------------------------- parsing
# The parser turns the text into a small tree: ("char", test), ("empty",), ("start",),
# ("end",), ("cat", [nodes]), ("alt", [nodes]), ("repeat", node, least, most or None, lazy),
# ("save", slot): where the first capture group starts (slot 0) or ends (slot 1).


@dataclass
class _Parser:
    text: str
    at: int = 0
    groups: int = 0  # capturing groups opened so far

    def fail(self, message: str) -> PatternError:
        return PatternError(f"{message} at position {self.at}")

    def peek(self) -> str | None:
        return self.text[self.at] if self.at < len(self.text) else None

    def take(self) -> str:
        char = self.text[self.at]
        self.at += 1
        return char

    def parse(self) -> Node:
        node = self.alternation()
        if self.peek() is not None:  # only a stray ')' stops alternation early
            raise self.fail("unbalanced parenthesis")
        return node

    def alternation(self) -> Node:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.take()
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def sequence(self) -> Node:
        items: list[Node] = []
        while self.peek() not in (None, "|", ")"):
            items.append(self.quantified(self.atom()))
        return ("cat", items) if items else ("empty",)

    def quantified(self, node: Node) -> Node:
        char = self.peek()
        if char not in ("*", "+", "?", "{"):
            return node
        if char == "{":
            saved = self.at
            bounds = self.braces()
            if bounds is None:  # Python reads a '{' that starts no repeat as a literal
                return node
            least, most = bounds
        else:
            saved = self.at
            self.take()
            least, most = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        if node[0] in ("start", "end"):
            self.at = saved
            raise self.fail("nothing to repeat")
        lazy = self.peek() == "?"  # the same names match; captures may differ
        if lazy:
            self.take()
        elif self.peek() == "+":
            raise self.fail("possessive quantifiers are not supported")
        if self.peek() in ("*", "+", "?", "{") and self._repeat_follows():
            raise self.fail("multiple repeat")
        return ("repeat", node, least, most, lazy)

    def _repeat_follows(self) -> bool:
        if self.peek() != "{":
            return True
        saved = self.at
        try:
            return self.braces() is not None
        finally:
            self.at = saved

    def braces(self) -> tuple[int, int | None] | None:
        """`{m}`, `{m,}`, `{,n}` or `{m,n}` at the cursor (consumed), else None (untouched)."""
        end = self.text.find("}", self.at)
        if end < 0:
            return None
        inside = self.text[self.at + 1 : end]
        low, comma, high = inside.partition(",")
        if not (low.isdigit() or (comma and low == "")) or not (high.isdigit() or high == ""):
            return None
        if not comma and not low:
            return None
        if len(low) > 4 or len(high) > 4:
            raise self.fail(f"repeat counts above {MAX_REPEAT} are not supported")
        least = int(low) if low else 0
        most = (int(high) if high else None) if comma else least
        if least > MAX_REPEAT or (most is not None and most > MAX_REPEAT):
            raise self.fail(f"repeat counts above {MAX_REPEAT} are not supported")
        if most is not None and most < least:
            raise self.fail("min repeat greater than max repeat")
        self.at = end + 1
        return least, most

    def atom(self) -> Node:
        char = self.take()
        if char == "(":
            number = 0
            if self.text.startswith("?:", self.at):
                self.at += 2
            elif self.peek() == "?":
                raise self.fail("lookaround, named and other (?...) groups are not supported")
            else:
                self.groups += 1
                number = self.groups
            node = self.alternation()
            if self.peek() != ")":
                raise self.fail("missing ), unterminated subpattern")
            self.take()
            if number == FIRST_GROUP:
                return ("cat", [("save", 0), node, ("save", 1)])
            return node
        if char == ")":
            raise self.fail("unbalanced parenthesis")
        if char in "*+?":
            raise self.fail("nothing to repeat")
        if char == "{" and self._is_repeat_here():
            raise self.fail("nothing to repeat")
        if char == "^":
            return ("start",)
        if char == "$":
            return ("end",)
        if char == ".":
            return ("char", lambda c: c != "\n")
        if char == "[":
            return ("char", self.char_class())
        if char == "\\":
            return ("char", self.escape(in_class=False))
        return ("char", _equals(char))

    def _is_repeat_here(self) -> bool:
        self.at -= 1
        try:
            return self.braces() is not None
        finally:
            self.at += 1

    def escape(self, in_class: bool) -> Callable[[str], bool]:
        if self.peek() is None:
            raise self.fail("bad escape (end of pattern)")
        char = self.take()
        if char.lower() in CLASS_ESCAPES:
            test = CLASS_ESCAPES[char.lower()]
            return test if char.islower() else (lambda c: not test(c))
        if char.isalnum():
            what = "backreferences" if char.isdigit() else f"the escape \\{char}"
            raise self.fail(f"{what} {'are' if char.isdigit() else 'is'} not supported")
        return _equals(char)

    def char_class(self) -> Callable[[str], bool]:
        negated = self.peek() == "^"
        if negated:
            self.take()
        tests: list[Callable[[str], bool]] = []
        first = True
        while True:
            if self.peek() is None:
                raise self.fail("unterminated character set")
            char = self.take()
            if char == "]" and not first:
                break
            first = False
            if char == "\\":
                test = self.escape(in_class=True)
                low = None
            else:
                test, low = _equals(char), char
            if low is not None and self.peek() == "-" and self.text[self.at + 1 : self.at + 2]:
                high = self.text[self.at + 1]
                if high != "]":
                    self.at += 2
                    if high == "\\":
                        after = self.peek()
                        if after is None or after.isalnum():
                            raise self.fail("bad character range")
                        high = self.take()
                    if high < low:
                        raise self.fail(f"bad character range {low}-{high}")
                    test = _between(low, high)
            tests.append(test)
        return (lambda c: not any(t(c) for t in tests)) if negated else _any(tests)


def _equals(expected: str) -> Callable[[str], bool]:
    return lambda c: c == expected


def _between(low: str, high: str) -> Callable[[str], bool]:
    return lambda c: low <= c <= high


def _any(tests: list[Callable[[str], bool]]) -> Callable[[str], bool]:
    return lambda c: any(t(c) for t in tests)


# ---------------------------------------------------------------------------- the NFA


@dataclass
class _State:
    """One NFA state: 'char' consumes a character passing `test` and goes to `out`; 'split'
    goes to `out` (first in priority) and `alt` without consuming; 'start'/'end' (anchors)
    go to `out` only at the start/end of the name; 'save' goes to `out`, noting the position
    in `slot`; 'match' accepts."""

    kind: str
    test: Callable[[str], bool] | None = None
    out: int = -1
    alt: int = -1
    slot: int = -1


@dataclass
class _Nfa:
    states: list[_State] = field(default_factory=list)

    def add(self, state: _State) -> int:
        self.states.append(state)
        if len(self.states) > MAX_STATES:
            raise PatternError(f"the pattern is too large (more than {MAX_STATES} states)")
        return len(self.states) - 1

    def build(self, node: Node, follow: int) -> int:
        """States for `node`, continuing to `follow`; returns the entry state."""
        kind = node[0]
        if kind == "empty":
            return follow
        if kind == "char":
            return self.add(_State("char", test=node[1], out=follow))
        if kind in ("start", "end"):
            return self.add(_State(kind, out=follow))
        if kind == "save":
            return self.add(_State("save", out=follow, slot=node[1]))
        if kind == "cat":
            entry = follow
            for item in reversed(node[1]):
                entry = self.build(item, entry)
            return entry
        if kind == "alt":
            entries = [self.build(branch, follow) for branch in node[1]]
            entry = entries[-1]
            for other in reversed(entries[:-1]):
                entry = self.add(_State("split", out=other, alt=entry))
            return entry
        _, inner, least, most, lazy = node
        entry = follow
        if most is None:  # a loop: split to (inner, back to the split) or on
            loop = self.add(_State("split"))
            again = self.build(inner, loop)
            self.states[loop].out, self.states[loop].alt = (
                (follow, again) if lazy else (again, follow)
            )
            entry = loop
        else:
            for _ in range(most - least):  # optional copies, each may stop here
                once = self.build(inner, entry)
                entry = self.add(
                    _State("split", out=follow, alt=once)
                    if lazy
                    else _State("split", out=once, alt=follow)
                )
        for _ in range(least):
            entry = self.build(inner, entry)
        return entry


class RunPattern:
    """A compiled `?runs=` pattern; `fullmatch(name)` in time linear in len(name)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.nfa = _Nfa()
        accept = self.nfa.add(_State("match"))
        try:
            self.entry = self.nfa.build(_Parser(text).parse(), accept)
        except RecursionError:
            raise PatternError("the pattern is nested too deeply") from None
        self._moves: dict[tuple[frozenset[int], str], frozenset[int]] = {}
        self._sets: dict[frozenset[int], frozenset[int]] = {}  # one object per DFA state
        self._accepts: dict[frozenset[int], bool] = {}
        self.steps = 0  # NFA states visited while matching (for tests: linear, not exponential)

    def _closure(self, seeds: list[int], at_start: bool, at_end: bool) -> frozenset[int]:
        """Every state reachable from `seeds` without consuming a character."""
        seen: set[int] = set()
        stack = list(seeds)
        states = self.nfa.states
        while stack:
            index = stack.pop()
            if index in seen:
                continue
            seen.add(index)
            self.steps += 1
            state = states[index]
            if state.kind == "split":
                stack.extend((state.out, state.alt))
            elif state.kind == "save":
                stack.append(state.out)
            elif state.kind == "start" and at_start:
                stack.append(state.out)
            elif state.kind == "end" and at_end:
                stack.append(state.out)
        return frozenset(seen)

    def fullmatch(self, name: str) -> bool:
        """Whether the whole of `name` matches (as `re.fullmatch` would)."""
        if len(self._moves) > MAX_CACHED:
            self._moves.clear()
            self._sets.clear()
            self._accepts.clear()
        current = self._closure([self.entry], at_start=True, at_end=False)
        states = self.nfa.states
        for char in name:
            key = (current, char)
            following = self._moves.get(key)
            if following is None:
                targets = [
                    states[i].out
                    for i in current
                    if states[i].kind == "char" and states[i].test(char)  # type: ignore[misc]
                ]
                following = self._closure(targets, at_start=False, at_end=False)
                following = self._sets.setdefault(following, following)
                self._moves[key] = following
            current = following
            if not current:
                return False
        accepted = self._accepts.get(current) if name else None
        if accepted is None:
            final = self._closure(list(current), at_start=not name, at_end=True)
            accepted = any(states[i].kind == "match" for i in final)
            if name:
                self._accepts[current] = accepted
        return accepted

    def search_group(self, name: str) -> str | None:
        """The first capture group of the leftmost match in `name` (the whole match when the
        pattern has no group or the group took no part), as `re.search(...).group(1)` would
        give it; None when nothing in `name` matches. Linear in len(name) x states. (One
        corner differs from `re`: a group repeated by `*` that only ever matched empty, as in
        `(a*)*b`, counts as taking no part.)"""
        found = self._search(name)
        if found is None:
            return None
        start, group_start, group_end, end = found
        if 0 <= group_start <= group_end:
            return name[group_start:group_end]
        return name[start:end]

    def _search(self, name: str) -> tuple[int, int, int, int] | None:
        """(match start, group start, group end, match end) of the leftmost, highest-priority
        match (Python's backtracking order), by a Pike VM over the NFA."""
        threads: list[tuple[int, tuple[int, int, int]]] = []
        seen: set[int] = set()
        found: tuple[int, int, int, int] | None = None
        for at in range(len(name) + 1):
            if found is None:  # a match may still start here, below every older thread
                self._follow(threads, seen, self.entry, (at, -1, -1), at, name)
            if not threads:
                if found is not None:
                    break
                seen = set()
                continue
            following: list[tuple[int, tuple[int, int, int]]] = []
            next_seen: set[int] = set()
            for index, marks in threads:
                state = self.nfa.states[index]
                if state.kind == "match":
                    found = (*marks, at)
                    break  # the threads after this one have a lower priority
                if at < len(name) and state.test(name[at]):  # type: ignore[misc]
                    self._follow(following, next_seen, state.out, marks, at + 1, name)
            threads, seen = following, next_seen
        return found

    def _follow(
        self,
        threads: list[tuple[int, tuple[int, int, int]]],
        seen: set[int],
        entry: int,
        marks: tuple[int, int, int],
        at: int,
        name: str,
    ) -> None:
        """Add the consuming and accepting states reachable from `entry` at position `at`
        to `threads`, in priority order, each with its capture marks; a state already
        reached at this position by a higher-priority path is not added again."""
        stack = [(entry, marks)]
        states = self.nfa.states
        while stack:
            index, held = stack.pop()
            if index in seen:
                continue
            seen.add(index)
            self.steps += 1
            state = states[index]
            if state.kind == "split":
                stack.append((state.alt, held))
                stack.append((state.out, held))  # popped first: explored first
            elif state.kind == "save":
                start, group_start, group_end = held
                held = (start, at, -1) if state.slot == 0 else (start, group_start, at)
                stack.append((state.out, held))
            elif state.kind == "start":
                if at == 0:
                    stack.append((state.out, held))
            elif state.kind == "end":
                if at == len(name):
                    stack.append((state.out, held))
            else:
                threads.append((index, held))


def compile_runs(text: str) -> RunPattern:
    """Compile a `?runs=` pattern (at most STREAMVIS_MAX_RUNS_PATTERN characters);
    PatternError saying what is wrong or unsupported. Compiled patterns are shared, so the
    pages comparing the same runs share the cached DFA states too."""
    most = limits.current().runs_pattern
    if len(text) > most:
        raise PatternError(
            f"the pattern has {len(text):,} characters; at most {most} are allowed "
            f"({limits.ENVIRONMENT['runs_pattern']})"
        )
    return _compiled(text)


@lru_cache(maxsize=16)
def _compiled(text: str) -> RunPattern:
    return RunPattern(text)
