"""Layout YAML text -> plain data, with where each key path starts (line, column) for
error messages. Safe loading only; whatever the text, only SpecError comes out: bytes YAML
cannot hold, syntax errors, tags safe loading refuses, a list or mapping used as a key, a
scalar PyYAML cannot read, nesting deeper than MAX_DEPTH, alias bombs (layout_limits.py)."""

from __future__ import annotations

from typing import Any

import yaml

from streamvis.errors import SpecError
from streamvis.layout import limits
from streamvis.layout.checks import Path_, describe_type, shown

MAX_DEPTH = 50  # YAML nesting; a layout needs about 5, and PyYAML's scanner is quadratic in it


class _MarkedLoader(yaml.SafeLoader):
    """Safe YAML loader that refuses nesting deeper than MAX_DEPTH while scanning, before
    PyYAML spends time quadratic in the depth (5,000 '[' took 14 s)."""

    def _check_depth(self, depth: int) -> None:
        if depth >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(
                None, None, f"the layout is nested more than {MAX_DEPTH} deep", self.get_mark()
            )

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 - PyYAML's
        self._check_depth(self.flow_level)
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        self._check_depth(len(self.indents))
        return super().add_indent(column)


class _Reader:
    """Turns a composed YAML node tree into plain data, remembering where each key path
    starts (for error messages). Keys must be scalars; the values read are counted, each
    alias every time it is used, so a few lines of nested aliases cannot make millions."""

    def __init__(self, source: str, marks: dict[Path_, tuple[int, int]]) -> None:
        self.source = source
        self.marks = marks
        self.constructor = yaml.constructor.SafeConstructor()
        self.left = limits.current().yaml_nodes

    def where(self, node: yaml.Node) -> str:
        return f"{self.source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"

    def at(self, node: yaml.Node) -> dict[str, Any]:
        """`where` as SpecError's fields."""
        mark = node.start_mark
        return {"file": self.source, "line": mark.line + 1, "col": mark.column + 1}

    def scalar(self, node: yaml.Node) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # PyYAML's own parsing of one scalar: a date like 2001-02-30
            # (ValueError), an empty `!!float` (IndexError)... the scalar is to blame
            raise SpecError(
                f"{self.where(node)}: cannot load {shown(node.value)} as {node.tag}: "
                f"{type(exc).__name__}: {shown(str(exc))}",
                **self.at(node),
            ) from None

    def read(self, node: yaml.Node, path: Path_) -> Any:
        self.left -= 1
        if self.left < 0:
            most = limits.current().yaml_nodes
            raise SpecError(
                f"{self.where(node)}: the layout has more than {most:,} values "
                f"({limits.ENVIRONMENT['yaml_nodes']}; an alias counts each time it is used)",
                **self.at(node),
            )
        self.marks[path] = (node.start_mark.line, node.start_mark.column)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise SpecError(
                        f"{self.where(key_node)}: a key must be a plain word or number, "
                        "not a list or a mapping",
                        **self.at(key_node),
                    )
                key = self.scalar(key_node)
                if key in result:
                    raise SpecError(
                        f"{self.where(key_node)}: key {shown(key)} appears twice",
                        **self.at(key_node),
                        path=(*path, key),
                    )
                result[key] = self.read(value_node, (*path, key))
                self.marks[(*path, key)] = (key_node.start_mark.line, key_node.start_mark.column)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.read(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.scalar(node)


def read_yaml(text: str, source: str) -> tuple[Any, dict[Path_, tuple[int, int]], list[str]]:
    """(data, marks, lines) of layout YAML `text`: marks map key paths to (line, column)."""
    if not isinstance(text, str):
        raise SpecError(
            f"{source}: a layout must be YAML text, not {describe_type(text)}", file=source
        )
    lines = text.splitlines()
    marks: dict[Path_, tuple[int, int]] = {}
    try:
        node = yaml.compose(text, Loader=_MarkedLoader)
        if node is None:
            raise SpecError(
                f"{source}: the layout is empty; it needs at least 'plots'", file=source
            )
        data = _Reader(source, marks).read(node, ())
    except yaml.MarkedYAMLError as exc:  # syntax errors, and tags safe loading refuses
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        snippet = (
            f"\n    {mark.line + 1:>4} | {lines[mark.line][:200]}"
            if (mark and mark.line < len(lines))
            else ""
        )
        what = (
            "cannot load"
            if isinstance(exc, yaml.constructor.ConstructorError)
            else "YAML syntax error"
        )
        raise SpecError(
            f"{where}: {what}: {exc.problem}{snippet}",
            file=source,
            line=mark.line + 1 if mark else None,
            col=mark.column + 1 if mark else None,
        ) from None
    except yaml.reader.ReaderError as exc:  # a byte or character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        raise SpecError(
            f"{source}:{line}: YAML cannot contain the character {shown(exc.character)} "
            f"(position {exc.position})",
            file=source,
            line=line,
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: YAML error: {shown(str(exc))}", file=source) from None
    except RecursionError:
        raise SpecError(
            f"{source}: the layout is nested too deeply (or an alias refers to the node that "
            "contains it)",
            file=source,
        ) from None
    return data, marks, lines
