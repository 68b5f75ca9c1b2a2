"""Settings declared once. A field made by :func:`setting` carries, beside its default, its help,
how its value is written on the command line (its form: a count, a number, a text, a switch, ...)
and the rule the value keeps; the command line's flags are made from such fields (cli/flags.py),
and :func:`check` holds a value to the same rule wherever it comes from (a flag, config.json,
Python). A setting is named by its flag (``--batch-size`` for ``batch_size``), the one name it has
on the command line, in errors and in help; a :class:`SettingError` says which setting broke its
rule, and how.
"""
import dataclasses
import math

#: How a setting's value is written, each form with its type: a whole number from 1, a whole
#: number, a finite number, a word or path, yes or no, two words.
FORMS = {"count": int, "whole": int, "number": float, "text": str, "switch": bool, "pair": tuple}


class SettingError(ValueError):
    """A setting's value that breaks its rule or does not go with another's: ``setting`` names
    it, ``problem`` says what is wrong, as words after its name (``{flag}`` in them stands for its
    flag)."""

    def __init__(self, setting, problem):
        self.setting, self.problem = setting, problem
        name = flag(setting)
        super().__init__(f"{name} {problem.replace('{flag}', name)}")


def flag(name):
    """The flag of the setting ``name``: ``--batch-size`` for ``batch_size``."""
    return "--" + name.replace("_", "-")


def setting(default=None, help="", *, form="text", metavar=None, choices=None, rule=None,
            shown=None, negatable=True, aliases=(), **more):
    """A dataclass field for a setting: its ``default``; ``help`` (without the default, which is
    added, or ``shown`` in its place: a value that other settings decide); its ``form`` (one of
    :data:`FORMS`), ``metavar`` and ``choices`` as the command line shows them; ``rule``, a
    function of a value that returns what is wrong with it, or None; for a switch, whether it
    has a ``--no-`` form; ``aliases``, further flags; ``more``, what the declaring class reads
    of its own settings."""
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r} of setting; choose one of {', '.join(FORMS)}")
    metadata = dict(help=help, form=form, metavar=metavar, choices=choices, rule=rule,
                    shown=shown, negatable=negatable, aliases=tuple(aliases), **more)
    return dataclasses.field(default=default, metadata=metadata)


def settings_of(cls):
    """The setting fields of a dataclass, in their order."""
    return [f for f in dataclasses.fields(cls) if "form" in f.metadata]


def problem(field, value):
    """What is wrong with ``value`` (not None) for the setting ``field``, or None."""
    form, choices, rule = (field.metadata[k] for k in ("form", "choices", "rule"))
    if form == "switch":
        if not isinstance(value, bool):
            return f"must be yes or no (true or false), got {value!r}"
        return None
    if form == "pair":
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(
                isinstance(v, str) for v in value):
            return None
        return f"must be two words, got {value!r}"
    if form in ("count", "whole"):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be a whole number, got {value!r}"
        if form == "count" and value < 1:
            return f"must be a whole number of at least 1, got {value}"
    if form == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))
                             or not math.isfinite(value)):
        return f"must be a finite number, got {value!r}"
    if form == "text" and not isinstance(value, str):
        return f"must be a text, got {value!r}"
    if choices is not None and value not in choices:
        return f"must be one of {', '.join(map(str, choices))}, got {value!r}"
    return None if rule is None else rule(value)


def check(values, cls):
    """SettingError for the first of ``values`` ({setting: value}, None for unset) that breaks
    its rule in the settings of ``cls``."""
    fields = {f.name: f for f in settings_of(cls)}
    for name, value in values.items():
        if value is not None and name in fields:
            wrong = problem(fields[name], value)
            if wrong is not None:
                raise SettingError(name, wrong)


# -- rules ------------------------------------------------------------------------------------

def at_least(low, words):
    """The rule of a value from ``low``, said as ``words`` (``0 (never) or more``)."""
    return lambda value: None if value >= low else f"must be {words}, got {value}"


def above(low):
    return lambda value: None if value > low else f"must be above {low}, got {value}"


def within(low, high, words):
    """The rule of a value from ``low`` to ``high``, said as ``words``."""
    return lambda value: None if low <= value <= high else f"must be {words}, got {value}"
