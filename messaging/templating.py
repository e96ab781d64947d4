"""Message templates: `{{name}}`, `{{city}}` (a contact field) and `{{name|there}}` (a default).

A deliberately small engine: a variable is a name looked up in a flat dict of strings, nothing
else. No code runs, no attribute or index access, no filters, so a template written by a workspace
member can never reach anything but the contact's own values.
"""

import re
from dataclasses import dataclass, field

from .segments import GSM7, GSM7_BASIC, GSM7_EXTENSION, count_segments

# `{{ name }}` or `{{ name | default text }}`; a name is a word (letters, digits, _ and -).
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(?:\|([^{}]*))?\}\}")
# Anything that looks like a variable but is not one (`{{ 1x }}`, `{{a.b}}`, an unclosed `{{`).
_MALFORMED = re.compile(r"\{\{(?![^{}]*\}\})|\{\{[^{}]*\}\}")

# What smart encoding sends instead of a character that would make the message UCS-2.
GSM7_REPLACEMENTS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "«": '"',
    "»": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2012": "-",
    "\u2010": "-",
    "\u2011": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2009": " ",
    "\u200b": "",
    "\u2022": "-",
    "\u00b7": "-",
    "\u02c6": "^",
    "\u02dc": "~",
    "\u2039": "<",
    "\u203a": ">",
    "\u00a9": "(c)",
    "\u00ae": "(R)",
    "\u2122": "TM",
    "\u00bd": "1/2",
    "\u00bc": "1/4",
    "\u00be": "3/4",
    "\u00d7": "x",
    "\u00f7": "/",
    "\u00e1": "a",
    "\u00ed": "i",
    "\u00f3": "o",
    "\u00fa": "u",
    "\u00e2": "a",
    "\u00ea": "e",
    "\u00ee": "i",
    "\u00f4": "o",
    "\u00fb": "u",
    "\u00c1": "A",
    "\u00cd": "I",
    "\u00d3": "O",
    "\u00da": "U",
    "\u00e3": "a",
    "\u00f5": "o",
    "\u00eb": "e",
    "\u00ef": "i",
}


class TemplateError(ValueError):
    """A template that cannot be rendered for some contact; `variable` names the culprit."""

    def __init__(self, message: str, *, variable: str | None = None):
        super().__init__(message)
        self.variable = variable


def check_syntax(body: str) -> list[str]:
    """The variable names a template uses, in order of first use. Raises TemplateError for a
    `{{ … }}` that is not a variable, so a typo is caught when the template is saved."""
    names: list[str] = []
    for match in _MALFORMED.finditer(body):
        if not VARIABLE.fullmatch(match.group(0)):
            raise TemplateError(
                f"{match.group(0)[:40]!r} is not a variable: write {{{{name}}}} or {{{{name|default}}}}."
            )
    for match in VARIABLE.finditer(body):
        if match.group(1) not in names:
            names.append(match.group(1))
    return names


def render(body: str, values: dict[str, str]) -> str:
    """`body` with each variable replaced by its value, or by its default when the value is
    missing or empty. Raises TemplateError naming the first variable with neither."""

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        value = values.get(name)
        if value not in (None, ""):
            return str(value)
        if default is not None:
            return default.strip()
        raise TemplateError(f"The variable {{{{{name}}}}} has no value and no default.", variable=name)

    return VARIABLE.sub(substitute, body)


def compile_template(body: str):
    """`render` for one body and many contacts: the body is split into its text and variables
    once, and the answer renders (name, phone_number, fields) with the same rules (a field is
    looked up under the variable's name, `name` and `phone_number` being the contact's own)."""
    parts: list[tuple[str, str | None, str | None]] = []  # (text before, variable, its default)
    position = 0
    for match in VARIABLE.finditer(body):
        default = match.group(2)
        parts.append(
            (body[position : match.start()], match.group(1), default.strip() if default is not None else None)
        )
        position = match.end()
    tail = body[position:]

    def render_contact(name: str, phone_number: str, fields: dict | None) -> str:
        out = []
        value: str | None
        for text, variable, default in parts:
            out.append(text)
            if variable == "name":
                value = name
            elif variable == "phone_number":
                value = phone_number
            else:
                value = fields.get(variable) if fields else None
            if value not in (None, ""):
                out.append(str(value))
            elif default is not None:
                out.append(default)
            else:
                raise TemplateError(
                    f"The variable {{{{{variable}}}}} has no value and no default.", variable=variable
                )
        out.append(tail)
        return "".join(out)

    return render_contact


def contact_values(contact) -> dict[str, str]:
    """What a template may use of a contact: its fields, then name and phone_number on top."""
    return {
        **{k: str(v) for k, v in (contact.fields or {}).items()},
        "name": contact.name,
        "phone_number": contact.phone_number,
    }


@dataclass(frozen=True)
class CostlyCharacter:
    character: str
    reason: str  # "ucs2": makes the whole message UCS-2; "extension": takes two GSM-7 units
    replacement: str | None  # the GSM-7 text smart encoding would send, if any


@dataclass(frozen=True)
class Rendering:
    text: str
    characters: int
    num_segments: int
    encoding: str
    costly_characters: list[CostlyCharacter] = field(default_factory=list)
    smart_encoded: str | None = None  # the text with replacements, when that makes it GSM-7
    smart_encoded_segments: int | None = None


def costly_characters(text: str) -> list[CostlyCharacter]:
    """Each distinct character that pushes a message to UCS-2 or costs an extra GSM-7 unit."""
    found: dict[str, CostlyCharacter] = {}
    for ch in text:
        if ch in found or ch in GSM7_BASIC:
            continue
        if ch in GSM7_EXTENSION:
            found[ch] = CostlyCharacter(ch, "extension", None)
        else:
            found[ch] = CostlyCharacter(ch, "ucs2", GSM7_REPLACEMENTS.get(ch))
    return list(found.values())


def smart_encode(text: str) -> str:
    return "".join(GSM7_REPLACEMENTS.get(ch, ch) for ch in text)


def describe(text: str) -> Rendering:
    """Characters, segments, encoding and what costs extra, for one rendered message."""
    info = count_segments(text)
    costly = costly_characters(text)
    smart = smart_segments = None
    if info.encoding != GSM7 and any(c.reason == "ucs2" and c.replacement is not None for c in costly):
        candidate = smart_encode(text)
        candidate_info = count_segments(candidate)
        if candidate_info.encoding == GSM7:
            smart, smart_segments = candidate, candidate_info.num_segments
    return Rendering(
        text=text,
        characters=info.characters,
        num_segments=info.num_segments,
        encoding=info.encoding,
        costly_characters=costly,
        smart_encoded=smart,
        smart_encoded_segments=smart_segments,
    )
