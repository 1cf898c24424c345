"""Prometheus series selectors (``name{label="v",label!~"re"}``) evaluated on scraped samples.

Only selectors, no functions: enough to compute an SLI from two /metrics scrapes with the
same expressions a Prometheus server would be asked for.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gates.outcome import ConfigError

SELECTOR = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$")
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')

# One scrape: {(sample name, sorted (label, value) pairs): value}
SampleKey = tuple[str, tuple[tuple[str, str], ...]]
Samples = Mapping[SampleKey, float]
# (label, operator, value)
Matcher = tuple[str, str, str]


@dataclass(frozen=True)
class Selector:
    text: str
    name: str
    matchers: tuple[Matcher, ...]

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        if name != self.name:
            return False
        for label, op, value in self.matchers:
            actual = labels.get(label, "")
            if op == "=" and actual != value:
                return False
            if op == "!=" and actual == value:
                return False
            if op == "=~" and not re.fullmatch(value, actual):
                return False
            if op == "!~" and re.fullmatch(value, actual):
                return False
        return True

    def total(self, samples: Samples) -> float:
        """Sum of the matching samples in ``samples`` ({(name, labels tuple): value})."""
        return sum(v for (name, labels), v in samples.items() if self.matches(name, dict(labels)))


def parse(text: str) -> Selector:
    match = SELECTOR.match(text)
    if not match:
        raise ConfigError(f"not a Prometheus series selector: {text!r}")
    name, body = match.group(1), match.group(2) or ""
    matchers: list[Matcher] = []
    position = 0
    while position < len(body.strip()):
        found = MATCHER.match(body, position)
        if not found:
            raise ConfigError(f"cannot read label matchers in {text!r} at {body[position:]!r}")
        label, op, value, _ = found.groups()
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ConfigError(f"bad regular expression in {text!r}: {exc}") from None
        matchers.append((label, op, value.replace('\\"', '"')))
        position = found.end()
    return Selector(text.strip(), name, tuple(matchers))
