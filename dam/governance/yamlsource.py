"""Reading the pack's YAML files as composed nodes, so that every problem names its file and
line; shared by the loaders of each pack file (`pack`, `metadata`)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor

_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"


@dataclass(frozen=True)
class PackError:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


# --- reading YAML nodes -------------------------------------------------------------------------


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL_TAG:
        return "empty"
    return repr(node.value)


def _hint(text: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(text, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Source:
    """One YAML file of the pack plus the shared error list."""

    def __init__(self, path: Path, errors: list[PackError], *, data: bytes | None = None) -> None:
        self.path = path
        self.name = str(path)
        self.errors = errors
        self.data = b""
        # Text sent with a request (named by `path`) instead of a file to read.
        self._given = data

    def error(self, at: yaml.Node | int | None, message: str) -> None:
        line = at if at is None or isinstance(at, int) else _line(at)
        self.errors.append(PackError(self.name, line, message))

    def compose(self) -> yaml.Node | None:
        try:
            self.data = self.path.read_bytes() if self._given is None else self._given
        except FileNotFoundError:
            self.error(None, "file not found")
            return None
        except OSError as exc:
            self.error(None, f"cannot read the file: {exc.strerror}")
            return None
        try:
            text = self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.error(self.data[: exc.start].count(b"\n") + 1, "the file is not UTF-8 text")
            return None
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "invalid YAML"
            self.error(None if mark is None else mark.line + 1, f"YAML syntax error: {problem}")
            return None
        except yaml.YAMLError as exc:
            self.error(None, f"YAML error: {exc}")
            return None
        if node is None:
            self.error(1, "the file is empty")
        return node

    def mapping(
        self,
        node: yaml.Node,
        what: str,
        *,
        required: Sequence[str] = (),
        optional: Sequence[str] = (),
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping of keys to values, not {_describe(node)}")
            return None
        allowed = (*required, *optional)
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, f"{what}: keys must be plain names")
                continue
            key = key_node.value
            if key == "<<":
                self.error(key_node, f"{what}: YAML merge keys (<<) are not supported")
            elif key in out:
                first = _line(out[key][0])
                self.error(key_node, f"{what}: duplicate key '{key}' (first at line {first})")
            elif key not in allowed:
                self.error(
                    key_node,
                    f"{what}: unknown key '{key}'{_hint(key, allowed)}; "
                    f"allowed keys are {', '.join(allowed)}",
                )
            else:
                out[key] = (key_node, value_node)
        for key in required:
            if key not in out:
                self.error(node, f"{what}: missing required key '{key}'")
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list, not {_describe(node)}")
            return None
        return list(node.value)

    def text(self, node: yaml.Node, what: str) -> str | None:
        # Any scalar counts, taken as written: `id: no` and `revision: 2026.11` are text.
        if isinstance(node, yaml.ScalarNode) and node.tag != _NULL_TAG and node.value.strip():
            return str(node.value).strip()
        self.error(node, f"{what} must be text, not {_describe(node)}")
        return None

    def flag(self, node: yaml.Node, what: str) -> bool | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL_TAG:
            return bool(SafeConstructor.bool_values[node.value.lower()])
        self.error(node, f"{what} must be true or false, not {_describe(node)}")
        return None

    def texts(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node]]:
        items = self.sequence(node, what)
        out = []
        for item in items or ():
            value = self.text(item, f"{what} item")
            if value is not None:
                out.append((value, item))
        return out


def _peek_id(node: yaml.Node) -> str | None:
    """The `id` of a mapping before it is validated, to name it in its own errors."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if (
                isinstance(key, yaml.ScalarNode)
                and key.value == "id"
                and isinstance(value, yaml.ScalarNode)
                and value.value.strip()
            ):
                return str(value.value).strip()
    return None


def _named(kind: str, node: yaml.Node) -> str:
    identifier = _peek_id(node)
    return kind if identifier is None else f"{kind} '{identifier}'"


def _value(key: str, keys: Mapping[str, tuple[yaml.Node, yaml.Node]]) -> yaml.Node | None:
    entry = keys.get(key)
    return None if entry is None else entry[1]


@dataclass
class _TermDraft:
    id: str
    node: yaml.Node
    label: str
    label_node: yaml.Node
    synonyms: list[tuple[str, yaml.Node]]
    description: str | None
    deprecated: bool
    replaced_by: tuple[str, yaml.Node] | None
    parent: str | None
    children: list[str] = field(default_factory=list)


@dataclass
class _FacetDraft:
    id: str
    node: yaml.Node
    label: str
    description: str | None
    required: bool
    multi: bool
    review: bool = True
    roots: list[str] = field(default_factory=list)
    terms: dict[str, _TermDraft] = field(default_factory=dict)
    lookup: dict[str, str] = field(default_factory=dict)


def _default_label(identifier: str) -> str:
    text = identifier.replace("-", " ").replace("_", " ")
    return text[:1].upper() + text[1:]
