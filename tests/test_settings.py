"""Settings declared as fields: each value held to its form, choices and rule, whatever it comes
from; a broken one named by its flag."""
import dataclasses

import pytest

from s2sxp.settings import SettingError, at_least, check, flag, setting, settings_of


@dataclasses.dataclass
class Example:
    count: int = setting(1, "a count", form="count")
    rate: float = setting(0.5, "a rate", form="number", rule=at_least(0, "0 or more"))
    cell: str = setting("lstm", "a cell", choices=("lstm", "gru"))
    both: tuple = setting(None, "two words", form="pair")
    on: bool = setting(None, "a switch", form="switch")
    plain: int = 3


def test_only_the_declared_fields_are_settings_and_each_has_its_flag():
    assert [f.name for f in settings_of(Example)] == ["count", "rate", "cell", "both", "on"]
    assert flag("batch_tokens") == "--batch-tokens"


@pytest.mark.parametrize("values, message", [
    ({"count": 0}, "--count must be a whole number of at least 1, got 0"),
    ({"count": 2.5}, "--count must be a whole number, got 2.5"),
    ({"count": True}, "--count must be a whole number, got True"),
    ({"rate": float("nan")}, "--rate must be a finite number, got nan"),
    ({"rate": -1}, "--rate must be 0 or more, got -1"),
    ({"cell": "rnn"}, "--cell must be one of lstm, gru, got 'rnn'"),
    ({"both": ["a"]}, "--both must be two words, got ['a']"),
    ({"on": "yes"}, "--on must be yes or no (true or false), got 'yes'"),
])
def test_a_value_is_held_to_its_form_choices_and_rule(values, message):
    with pytest.raises(SettingError) as raised:
        check(values, Example)
    assert str(raised.value) == message and raised.value.setting == next(iter(values))


def test_good_values_and_unset_ones_pass():
    check({"count": 3, "rate": 0, "cell": "gru", "both": ("a", "b"), "on": False,
           "plain": "anything", "unknown": 1}, Example)
    check({"count": None, "rate": None}, Example)


def test_a_problem_may_name_its_flag_and_an_unknown_form_is_refused():
    assert str(SettingError("data", "moved? give it with {flag} FILE")) == (
        "--data moved? give it with --data FILE")
    with pytest.raises(ValueError, match="unknown form 'colour'"):
        setting(1, form="colour")
