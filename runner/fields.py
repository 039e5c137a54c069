"""How the runner declares its plain data (a lesson, a run's options, a finding): a class of annotated fields.

What @dataclass does for them, in a few lines: fields in the order written, set by position or by keyword, each
with its default (a list, dict or set default is copied, so no two instances share one), a repr, == by value. The
dataclasses module imports inspect, and inspect imports ast and dis: 5 ms of every run's start-up, a fifth of all
the runner adds to the plain script's time before it compiles (bench/results.md).
"""

MUTABLE = (list, dict, set)


class Fields:
    _fields = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        names = list(cls._fields)
        names += [name for name in cls.__dict__.get("__annotations__", {}) if name not in names]
        cls._fields = tuple(names)

    def __init__(self, *args, **kwargs):
        kind = type(self).__name__
        if len(args) > len(self._fields):
            raise TypeError(f"{kind}() takes {len(self._fields)} fields, {len(args)} given")
        for name, value in zip(self._fields, args):
            if name in kwargs:
                raise TypeError(f"{kind}() got {name} twice")
            kwargs[name] = value
        for name in self._fields:
            if name in kwargs:
                value = kwargs.pop(name)
            elif hasattr(type(self), name):
                value = getattr(type(self), name)
                if isinstance(value, MUTABLE):
                    value = type(value)(value)
            else:
                raise TypeError(f"{kind}() needs {name}")
            setattr(self, name, value)
        if kwargs:
            raise TypeError(f"{kind}() has no field {', '.join(kwargs)}")

    def asdict(self):
        return {name: getattr(self, name) for name in self._fields}

    def __eq__(self, other):
        return type(self) is type(other) and self.asdict() == other.asdict()

    __hash__ = None  # equal by value and changeable, so not a dict key (as a dataclass)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.asdict().items())})"
