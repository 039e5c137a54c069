"""One finding of the machine's checks: what was looked at, how it stands, and the one-line fix.

Its own module so that both the doctor and the VM runner can report findings without importing each other.
"""

from .fields import Fields


class Finding(Fields):
    name: str
    status: str  # "ok", "warn" (works, with a caveat or a fallback) or "missing"
    detail: str
    fix: str = ""
    required: bool = False  # a lesson cannot run at all without it
