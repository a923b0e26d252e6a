"""caprobe.ca.callbacks.takes_two_arguments: which callbacks get (sub, response)."""

from __future__ import annotations

import functools

import pytest

from caprobe.ca.callbacks import takes_two_arguments


class Target:
    def one(self, response): ...
    def two(self, sub, response): ...
    def two_with_default(self, sub, response=None): ...
    def star(self, *args): ...
    def one_and_star(self, response, *args): ...
    def self_default(self=None, response=None): ...
    def keyword_only(self, sub, response, *, extra): ...

    @staticmethod
    def static_two(sub, response): ...

    @classmethod
    def class_two(cls, sub, response): ...

    def __call__(self, sub, response): ...


def wrapped_one(response): ...


@functools.wraps(wrapped_one)
def decorated(*args, **kwargs): ...


target = Target()
CASES = [
    (lambda response: None, False),
    (lambda sub, response: None, True),
    (lambda sub, response=None: None, False),
    (lambda *args: None, True),
    (lambda response, *args: None, False),
    (lambda a, /, b: None, True),
    (lambda a=1, b=2: None, False),
    (lambda *, k: None, False),
    (target.one, False),
    (target.two, True),
    (target.two_with_default, False),
    (target.star, True),
    (target.one_and_star, False),
    (target.self_default, False),
    (target.keyword_only, True),
    (Target.static_two, True),
    (Target.class_two, True),
    (target, True),  # a callable object: through inspect
    (functools.partial(lambda a, b, c: None, 1), True),
    (decorated, False),  # functools.wraps: the signature of what it wraps, as inspect says
    (max, False),  # a builtin without a signature (which ones have one varies by Python)
]


@pytest.mark.parametrize(("func", "expected"), CASES)
def test_two_argument_callbacks_are_told_apart(func, expected) -> None:
    assert takes_two_arguments(func) is expected
